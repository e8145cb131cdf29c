"""Pure functions of the progression rules, v2 (docs/rules.md): no I/O, no web, no database.

Inputs are plain data (`app.progression.model`): a ladder (steps and rule thresholds, as the
catalogue serves them) and sessions as logged. The session-log service and the recommendation
endpoints both call these.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from app.progression import messages
from app.progression.model import (
    UNMET_ORDER,
    Action,
    Assessment,
    Ladder,
    LoggedSession,
    Pain,
    PainZone,
    Performance,
    Prescription,
    Reason,
    ReasonCode,
    Recommendation,
    Rules,
    Step,
    UnmetCode,
)

# Part of every answer's `rules_version`: bump it whenever a rule below changes meaning.
RULES_REVISION = "2"


def position_dose(step: Step, target_dose: int) -> int:
    """The step's dose a target counts as: its highest dose not above it, within start..target."""
    if target_dose <= step.start:
        return step.start
    if target_dose >= step.target:
        return step.target
    return step.start + (target_dose - step.start) // step.increment * step.increment


def is_flare(pain: Pain, rules: Rules) -> bool:
    """Next-morning pain that did not settle: above the pain before (missing counts as 0) by
    more than the margin, and above the level that is fine anyway."""
    morning = pain.next_morning
    return morning is not None and morning > (pain.before or 0) + rules.flare_margin and morning > rules.pain_ok


def pain_zone(pain: Pain, rules: Rules) -> PainZone:
    worst = pain.during if pain.after is None else max(pain.during, pain.after)
    if worst >= rules.pain_stop or (pain.next_morning is not None and pain.next_morning >= rules.pain_stop):
        return "stop"
    if worst <= rules.pain_ok:
        return "low"
    if worst <= rules.pain_limit:
        return "acceptable"
    return "high"


def is_completed(performance: Performance, step: Step) -> bool:
    """At least the step's number of sets at the session's target, or the step's start when that
    is higher: a session planned below the step's range cannot complete its first position."""
    needed = max(performance.target_dose, step.start)
    return sum(1 for dose in performance.set_doses if dose >= needed) >= step.sets


def shortfalls(performance: Performance, step: Step, rules: Rules) -> list[UnmetCode]:
    """The `unmet` codes one session earns on its own, in answer order; empty when it qualifies."""
    pain = performance.pain
    found: list[UnmetCode] = []
    if not is_completed(performance, step):
        found.append("not_completed")
    if performance.rpe is None:
        found.append("rpe_missing")
    elif performance.rpe > rules.easy_rpe:
        found.append("rpe_above_easy")
    if pain.during > rules.pain_ok or (pain.after is not None and pain.after > rules.pain_ok):
        found.append("pain_above_ok")
    if performance.fault_count:
        found.append("faults")
    if step.support == "none" and performance.support_used:
        found.append("support_used")
    if is_flare(pain, rules):
        found.append("flare")
    if performance.red_flags:
        found.append("red_flag")
    return found


def is_qualifying(performance: Performance, step: Step, rules: Rules) -> bool:
    return not shortfalls(performance, step, rules)


def assess(performance: Performance, *, progression: str, step: Step, rules: Rules) -> Assessment:
    return Assessment(
        progression=progression,
        completed=is_completed(performance, step),
        qualifying=is_qualifying(performance, step, rules),
        pain_zone=pain_zone(performance.pain, rules),
        flare=is_flare(performance.pain, rules),
        red_flag=bool(performance.red_flags),
    )


# -- recommending the next step ---------------------------------------------------------------


def positions(ladder: Ladder) -> list[tuple[int, int]]:
    """Every (step index, dose) of the ladder, bottom to top."""
    return [
        (index, dose)
        for index, step in enumerate(ladder.steps)
        for dose in range(step.start, step.target + 1, step.increment)
    ]


def window(ladder: Ladder) -> int:
    """How many of the latest ladder sessions the rules can look at."""
    return max(ladder.rules.streak, ladder.rules.incomplete_streak, 1)


def _prescription(ladder: Ladder, position: tuple[int, int]) -> Prescription:
    step = ladder.steps[position[0]]
    return Prescription(step.step, step.exercise, step.sets, position[1], step.unit, step.support)


def _ids(sessions: Sequence[LoggedSession]) -> tuple[str, ...]:
    return tuple(s.id for s in sessions)  # oldest first, as the history is ordered


def _in_order(sessions: Sequence[LoggedSession]) -> list[LoggedSession]:
    return sorted(sessions, key=lambda s: (s.performed_at, s.received_order))


def recommend(
    ladder: Ladder, sessions: Sequence[LoggedSession], as_of: datetime, *, emergency_flags: Collection[str] = ()
) -> Recommendation:
    """The next step on `ladder` after `sessions`, by the first matching rule (docs/rules.md).

    `sessions` may include sessions of other exercises, or naming another ladder: only the latest
    of them matters (rule 1).
    `emergency_flags` are the red-flag codes whose urgency is `emergency`.
    """
    rules = ladder.rules
    step_index = {step.exercise: index for index, step in enumerate(ladder.steps)}
    everything = _in_order([s for s in sessions if s.performed_at <= as_of])
    history = [s for s in everything if s.exercise in step_index and s.progression in (None, ladder.slug)]
    ladder_positions = positions(ladder)

    def position_of(session: LoggedSession) -> tuple[int, int]:
        index = step_index[session.exercise]
        return index, position_dose(ladder.steps[index], session.performance.target_dose)

    current = position_of(history[-1]) if history else None

    # Rule 1: red flags on the single most recent session, of any exercise.
    if everything and everything[-1].performance.red_flags:
        flagged = everything[-1]
        urgent = any(code in emergency_flags for code in flagged.performance.red_flags)
        reason = Reason("red_flag", messages.red_flag(urgent=urgent), (flagged.id,))
        return Recommendation("pause", current and _prescription(ladder, current), None, (reason,))
    # Rule 2: nothing on this ladder yet.
    if current is None:
        reason = Reason("no_history", messages.NO_HISTORY, ())
        return Recommendation("start", None, _prescription(ladder, ladder_positions[0]), (reason,))

    latest = history[-1]
    here = ladder_positions.index(current)
    at_bottom, at_top = here == 0, here == len(ladder_positions) - 1
    step = ladder.steps[current[0]]

    def move(offset: int, codes: Sequence[ReasonCode], chosen: Sequence[LoggedSession]) -> Recommendation:
        target = ladder_positions[here + offset]
        same_step = target[0] == current[0]
        if offset > 0:
            action: Action = "increase_dose" if same_step else "advance_step"
        else:
            action = "decrease_dose" if same_step else "regress_step"
        reasons = tuple(Reason(code, messages.for_action(code, action, rules), _ids(chosen)) for code in codes)
        return Recommendation(action, _prescription(ladder, current), _prescription(ladder, target), reasons)

    def stay(
        action: Action, codes: Sequence[ReasonCode], chosen: Sequence[LoggedSession], unmet: tuple[UnmetCode, ...] = ()
    ) -> Recommendation:
        prescription = _prescription(ladder, current)
        reasons = tuple(
            Reason(code, messages.for_action(code, action, rules, unmet), _ids(chosen), unmet) for code in codes
        )
        if action == "pause":  # where to restart once a clinician has cleared it
            resume = _prescription(ladder, (current[0], step.start))
            return Recommendation("pause", prescription, None, reasons, resume)
        return Recommendation(action, prescription, prescription, reasons)

    pain = latest.performance.pain
    # Rule 3: pain at the stop level, during, after or the next morning.
    if any(p is not None and p >= rules.pain_stop for p in (pain.during, pain.after, pain.next_morning)):
        return stay("pause", ["pain_stop"], [latest])
    # Rule 4: pain above the limit, or a flare: one position down. At the bottom, pause for pain
    # above the limit; a flare alone repeats the easiest position.
    codes: list[ReasonCode] = []
    if pain.during > rules.pain_limit or (pain.after is not None and pain.after > rules.pain_limit):
        codes.append("pain_above_limit")
    if is_flare(pain, rules):
        codes.append("flare")
    if codes:
        if at_bottom:
            return stay("pause" if "pain_above_limit" in codes else "repeat", codes, [latest])
        return move(-1, codes, [latest])
    # Rule 5: the last `incomplete_streak` sessions all here and all incomplete.
    recent = history[-rules.incomplete_streak :]
    if len(recent) == rules.incomplete_streak and all(
        position_of(s) == current and not is_completed(s.performance, step) for s in recent
    ):
        return stay("repeat", ["incomplete_streak"], recent) if at_bottom else move(-1, ["incomplete_streak"], recent)
    # Rule 6: a break longer than `break_days`.
    if as_of - latest.performed_at > timedelta(days=rules.break_days):
        return stay("repeat", ["break"], [latest]) if at_bottom else move(-1, ["break"], [latest])
    # Rules 7 and 8: the window is the last `streak` sessions of the ladder.
    window_sessions = history[-rules.streak :]
    unmet = _unmet([s for s in window_sessions if position_of(s) == current], latest, step, rules)
    if not unmet:
        return (
            stay("repeat", ["ladder_complete"], window_sessions)
            if at_top
            else move(+1, ["ready_to_progress"], window_sessions)
        )
    return stay("repeat", ["keep_practising"], window_sessions, unmet)


def _unmet(here: Sequence[LoggedSession], latest: LoggedSession, step: Step, rules: Rules) -> tuple[UnmetCode, ...]:
    """What stands in the way of moving up (rule 8), in answer order; empty when rule 7 holds."""
    found: set[UnmetCode] = set()
    if len(here) < rules.streak:  # a short history, or a window reaching another position
        found.add("too_few_sessions")
    for session in here:
        found.update(shortfalls(session.performance, step, rules))
    rest = timedelta(hours=rules.min_rest_hours)
    if any(later.performed_at - earlier.performed_at < rest for earlier, later in pairwise(here)):
        found.add("too_soon")
    if any(s.performance.pain.next_morning is None for s in here if s is not latest):
        found.add("next_morning_missing")
    return tuple(code for code in UNMET_ORDER if code in found)
