"""Pure functions of the progression rules, v3 (docs/rules.md): no I/O, no web, no database.

Inputs are plain data (`app.progression.model`): a ladder (steps and rule thresholds, as the
catalogue serves them), sessions as logged, clearances as recorded, and the catalogue's guidance
the messages quote. The session-log service and both recommendation paths (stored and
evaluated) call these, so the same history gives the same answer either way.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from app.progression import messages
from app.progression.ladder import Walk, is_restart, latest_severe, recent_sessions, restart_position, view_of
from app.progression.model import (
    UNMET_ORDER,
    Action,
    Clearance,
    Guidance,
    Ladder,
    LoggedSession,
    Reason,
    ReasonCode,
    Recommendation,
    Rules,
    Step,
    UnmetCode,
)
from app.progression.reading import (
    in_order,
    is_cleared,
    is_completed,
    is_flare,
    is_spreading,
    most_urgent,
    pain_above_limit,
    shortfalls,
)

# Part of every answer's `rules_version`: bump it whenever a rule below changes meaning.
RULES_REVISION = "3"
NO_GUIDANCE = Guidance(urgency={}, corrections={})


# -- the recommendation -------------------------------------------------------------------------


def _ids(sessions: Iterable[LoggedSession]) -> tuple[str, ...]:
    return tuple(s.id for s in sessions)  # oldest first, as the history is ordered


def recommend(
    ladder: Ladder,
    sessions: Sequence[LoggedSession],
    as_of: datetime,
    *,
    clearances: Sequence[Clearance] = (),
    guidance: Guidance = NO_GUIDANCE,
) -> Recommendation:
    """The next step on `ladder` after `sessions`, by the first matching rule (docs/rules.md).

    `sessions` are the user's sessions of every exercise: red flags (rule 1) and severe pain
    (rule 2) count on all of them, the other rules on the ladder's own. Sessions performed after
    `as_of` do not exist for the rules.
    """
    view = view_of(ladder)
    rules = view.rules
    ordered = in_order(s for s in sessions if s.performed_at <= as_of)
    history = [s for s in ordered if view.owns(s)]
    latest = history[-1] if history else None
    current = view.position_of(latest) if latest else None
    shown = view.prescription(current) if current else None

    def reason(code: ReasonCode, action: Action, chosen: Iterable[LoggedSession], **detail: Any) -> Reason:
        return Reason(code, messages.for_reason(code, action, rules, **detail), _ids(chosen))

    # Rule 1: red flags stay until a clearance covers them.
    flagged = [s for s in ordered if s.performance.red_flags and not is_cleared(s, clearances, as_of)]
    if flagged:
        urgency = most_urgent((code for s in flagged for code in s.performance.red_flags), guidance)
        return Recommendation("pause", shown, None, (reason("red_flag", "pause", flagged, urgency=urgency),))

    # Rule 2: severe pain pauses until a rested, gentler restart.
    severe = latest_severe(view, ordered)
    if severe is not None:
        restart = restart_position(view, severe, ordered)
        if not any(is_restart(view, s, severe, restart) for s in history):
            easier = current is not None and view.rank[restart] < view.rank[current]
            paused = reason("pain_stop", "pause", [severe], easier=easier)
            return Recommendation("pause", shown, None, (paused,), view.prescription(restart))

    # Rule 3: nothing on this ladder yet.
    if latest is None:
        first = view.prescription(view.positions[0])
        return Recommendation("start", None, first, (reason("no_history", "start", []),))

    assert current is not None
    here = view.rank[current]
    lowest, highest = here == 0, here == len(view.positions) - 1

    def moving(target: int) -> Action:
        same_step = view.positions[target][0] == current[0]
        if target > here:
            return "increase_dose" if same_step else "advance_step"
        return "decrease_dose" if same_step else "regress_step"

    def move(target: int, code: ReasonCode, chosen: Sequence[LoggedSession], **detail: Any) -> Recommendation:
        action = moving(target)
        landing = view.prescription(view.positions[target])
        return Recommendation(action, shown, landing, (reason(code, action, chosen, **detail),))

    def repeat(code: ReasonCode, chosen: Sequence[LoggedSession], **detail: Any) -> Recommendation:
        return Recommendation("repeat", shown, shown, (reason(code, "repeat", chosen, **detail),))

    # Rule 4: a break eases back in, a position per whole `break_days` away.
    period = timedelta(days=rules.break_days)
    away = as_of - latest.performed_at
    if away > period:
        if lowest:
            return repeat("break", [latest], days=away.days)
        landing = max(here - away // period, 0)
        return move(landing, "break", [latest], days=away.days, positions=here - landing)

    # Rule 5: pain above the limit, a flare or spreading leg symptoms in the 48 hours up to L.
    recent = recent_sessions(view, history)
    checks: tuple[tuple[ReasonCode, Callable[[LoggedSession], bool]], ...] = (
        ("pain_above_limit", lambda s: pain_above_limit(s.performance.pain, rules)),
        ("flare", lambda s: is_flare(s.performance.pain, rules)),
        ("leg_symptoms_spreading", lambda s: is_spreading(s.performance.leg_symptoms)),
    )
    found = [(code, chosen) for code, meets in checks if (chosen := [s for s in recent if meets(s)])]
    if found:
        action = "pause" if lowest else moving(here - 1)
        reasons = tuple(reason(code, action, chosen) for code, chosen in found)
        if lowest:
            return Recommendation("pause", shown, None, reasons, shown)
        return Recommendation(action, shown, view.prescription(view.positions[here - 1]), reasons)

    # Rule 6: the last `incomplete_streak` sessions all here and all incomplete.
    last = history[-rules.incomplete_streak :]
    step = view.ladder.steps[current[0]]
    if len(last) == rules.incomplete_streak and all(
        view.position_of(s) == current and not is_completed(s.performance, step) for s in last
    ):
        return repeat("incomplete_streak", last) if lowest else move(here - 1, "incomplete_streak", last)

    # Rule 7: form faults in each of the last `fault_streak` sessions here go back to the easier exercise.
    last = history[-rules.fault_streak :]
    if len(last) == rules.fault_streak and all(view.position_of(s) == current and s.performance.faults for s in last):
        reported = dict.fromkeys(code for s in last for code in s.performance.faults)
        corrections = guidance.corrections.get(step.exercise, {})
        faults = [(code, corrections.get(code)) for code in reported]
        if current[0] > 0:
            previous = current[0] - 1
            target = view.rank[(previous, view.ladder.steps[previous].target)]
            return move(target, "form_faults", last, faults=faults)
        if lowest:
            return repeat("form_faults", last, faults=faults)
        return move(here - 1, "form_faults", last, faults=faults)

    # Rule 8: progress once the window holds `streak` counted sessions, all qualifying.
    walk = Walk(view, history)
    window = walk.sessions
    unmet = _unmet(walk, step, rules)
    if not unmet:
        if highest:
            return repeat("ladder_complete", window)
        return move(here + 1, "ready_to_progress", window, sessions=len(window))
    # Rule 9: keep practising, saying what is missing.
    return Recommendation(
        "repeat",
        shown,
        shown,
        (Reason("keep_practising", messages.keep_practising(unmet, rules), _ids(window), unmet),),
    )


def _unmet(walk: Walk, step: Step, rules: Rules) -> tuple[UnmetCode, ...]:
    """What stands in the way of moving up (rule 9), in answer order; empty when rule 8 holds."""
    found: set[UnmetCode] = set()
    if len(walk.sessions) < rules.streak:
        found.add("too_few_sessions")
    for session in walk.sessions:
        found.update(shortfalls(session.performance, step, rules))
    if len(walk.sessions) >= rules.streak and len(walk.counted) < rules.streak:
        found.add("too_soon")
    latest = walk.counted[0]
    if any(s.performance.pain.next_morning is None for s in walk.counted if s is not latest):
        found.add("next_morning_missing")
    return tuple(code for code in UNMET_ORDER if code in found)
