"""Pure functions of the progression rules, v3 (docs/rules.md): no I/O, no web, no database.

Inputs are plain data (`app.progression.model`): a ladder (steps and rule thresholds, as the
catalogue serves them), sessions as logged, clearances as recorded, and the catalogue's guidance
the messages quote. The session-log service and both recommendation paths (stored and
evaluated) call these, so the same history gives the same answer either way.
"""

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from app.progression import messages
from app.progression.model import (
    LEG_REACH,
    UNMET_ORDER,
    URGENCY_ORDER,
    Action,
    Assessment,
    Clearance,
    Guidance,
    Ladder,
    LegSymptoms,
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
    Urgency,
)

# Part of every answer's `rules_version`: bump it whenever a rule below changes meaning.
RULES_REVISION = "3"
RECENT = timedelta(hours=48)  # rule 5 looks at the ladder's sessions this far back from L
RESTART_REST = timedelta(hours=24)  # a restart after severe pain comes at least this long after it
WINDOW_CAP = 50  # rule 8's walk takes at most this many sessions
NO_GUIDANCE = Guidance(urgency={}, corrections={})

Position = tuple[int, int]  # (step index from 0, dose)


# -- one session --------------------------------------------------------------------------------


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


def is_severe(pain: Pain, rules: Rules) -> bool:
    """Pain at the stop level at any of the four times (rule 2)."""
    return any(p is not None and p >= rules.pain_stop for p in pain)


def is_spreading(legs: LegSymptoms) -> bool:
    """Leg symptoms that reached further down the leg after the session than before it."""
    return legs.before is not None and legs.after is not None and LEG_REACH[legs.after] > LEG_REACH[legs.before]


def pain_above_limit(pain: Pain, rules: Rules) -> bool:
    return pain.during > rules.pain_limit or (pain.after is not None and pain.after > rules.pain_limit)


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
    pain, legs = performance.pain, performance.leg_symptoms
    found: list[UnmetCode] = []
    if not is_completed(performance, step):
        found.append("not_completed")
    if performance.rpe is None:
        found.append("rpe_missing")
    elif performance.rpe > rules.easy_rpe:
        found.append("rpe_above_easy")
    if pain.during > rules.pain_ok or (pain.after is not None and pain.after > rules.pain_ok):
        found.append("pain_above_ok")
    if pain.before is not None and pain.before > rules.pain_limit:
        found.append("pain_before_high")
    if performance.faults:
        found.append("faults")
    if step.support == "none" and performance.support_used:
        found.append("support_used")
    if is_flare(pain, rules):
        found.append("flare")
    if performance.red_flags:
        found.append("red_flag")
    if is_spreading(legs) or legs.after == "below_knee":
        found.append("leg_symptoms")
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
        leg_symptoms_spreading=is_spreading(performance.leg_symptoms),
    )


def is_cleared(session: LoggedSession, clearances: Iterable[Clearance], as_of: datetime) -> bool:
    """Whether a clearance known by `as_of` covers the session's red flags: the clinician saw
    the person after the session, and the partner recorded it after the session had arrived."""
    return any(
        c.recorded_at <= as_of and c.cleared_at >= session.performed_at and c.recorded_at >= session.received_at
        for c in clearances
    )


def most_urgent(codes: Iterable[str], guidance: Guidance) -> Urgency:
    """The most urgent urgency among red-flag codes (a code the catalogue no longer lists needs a
    clinician's check at least)."""
    found = {guidance.urgency.get(code, "see_clinician") for code in codes}
    return next(u for u in URGENCY_ORDER if u in found)


def in_order(sessions: Iterable[LoggedSession]) -> list[LoggedSession]:
    """Sessions in the rules' order: by `performed_at`, then in the order they were received."""
    return sorted(sessions, key=lambda s: (s.performed_at, s.received_order))


# -- one ladder ---------------------------------------------------------------------------------


def positions(ladder: Ladder) -> list[Position]:
    """Every (step index, dose) of the ladder, bottom to top."""
    return [
        (index, dose)
        for index, step in enumerate(ladder.steps)
        for dose in range(step.start, step.target + 1, step.increment)
    ]


class LadderView:
    """A ladder as the rules walk it: its positions in order, and which sessions are its own."""

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        self.rules = ladder.rules
        self.step_index = {step.exercise: index for index, step in enumerate(ladder.steps)}
        self.positions = positions(ladder)
        self.rank = {position: rank for rank, position in enumerate(self.positions)}

    def owns(self, session: LoggedSession) -> bool:
        """A session of one of the ladder's steps that names this ladder or none."""
        return session.exercise in self.step_index and session.progression in (None, self.ladder.slug)

    def step_of(self, session: LoggedSession) -> Step:
        return self.ladder.steps[self.step_index[session.exercise]]

    def position_of(self, session: LoggedSession) -> Position:
        index = self.step_index[session.exercise]
        return index, position_dose(self.ladder.steps[index], session.performance.target_dose)

    def rank_of(self, session: LoggedSession) -> int:
        return self.rank[self.position_of(session)]

    def prescription(self, position: Position) -> Prescription:
        step = self.ladder.steps[position[0]]
        return Prescription(step.step, step.exercise, step.sets, position[1], step.unit, step.support)

    @cached_property
    def lookback(self) -> int:
        """How many of the latest ladder sessions the stored path reads first: the streak rules'
        longest and one more, so that practising up to three times a day, the walk of rule 8
        stops within them (`history_suffices` tells when it does not)."""
        rules = self.rules
        return max(rules.streak, rules.incomplete_streak, rules.fault_streak) + 1


_VIEWS: dict[int, tuple[Ladder, LadderView]] = {}
_MAX_VIEWS = 512
_VIEWS_LOCK = threading.Lock()


def view_of(ladder: Ladder) -> LadderView:
    """The ladder's view, built once per ladder object (a recommendation asks for it several
    times; the catalogue keeps its ladders until it is re-synced). The cache holds the ladder
    itself, so its id is not reused while cached."""
    cached = _VIEWS.get(id(ladder))
    if cached is not None and cached[0] is ladder:
        return cached[1]
    view = LadderView(ladder)
    with _VIEWS_LOCK:  # evaluate runs in worker threads
        if len(_VIEWS) >= _MAX_VIEWS:
            _VIEWS.pop(next(iter(_VIEWS)))
        _VIEWS[id(ladder)] = (ladder, view)
    return view


def restart_position(view: LadderView, severe: LoggedSession, ordered: Sequence[LoggedSession]) -> Position:
    """Where a restart after `severe` (rule 2) must be, at the highest: the step before the base
    step, at its start. The base step is the severe session's own on this ladder, else the step
    of the ladder's latest session before it in `ordered` (the first step when there is none)."""
    if view.owns(severe):
        base = view.step_index[severe.exercise]
    else:
        before = _sessions_before(ordered, severe)
        base = next((view.step_index[s.exercise] for s in reversed(before) if view.owns(s)), 0)
    index = max(base - 1, 0)
    return index, view.ladder.steps[index].start


def is_restart(view: LadderView, session: LoggedSession, severe: LoggedSession, restart: Position) -> bool:
    """A ladder session that ends the pause after `severe`: at least 24 hours after it, at or
    below the restart position, and with pain before (if given) within the limit."""
    before = session.performance.pain.before
    return (
        view.owns(session)
        and session.performed_at - severe.performed_at >= RESTART_REST
        and view.rank_of(session) <= view.rank[restart]
        and (before is None or before <= view.rules.pain_limit)
    )


def _sessions_before(ordered: Sequence[LoggedSession], session: LoggedSession) -> Sequence[LoggedSession]:
    key = (session.performed_at, session.received_order)
    return [s for s in ordered if (s.performed_at, s.received_order) < key]


def latest_severe(view: LadderView, ordered: Sequence[LoggedSession]) -> LoggedSession | None:
    """The user's latest session, of any exercise, with pain at the ladder's stop level."""
    return next((s for s in reversed(ordered) if is_severe(s.performance.pain, view.rules)), None)


class _Walk:
    """Rule 8's window: taken walking back from L, oldest first once built."""

    def __init__(self, view: LadderView, history: Sequence[LoggedSession]) -> None:
        rules = view.rules
        latest = history[-1]
        here = view.position_of(latest)
        rest, gap = timedelta(hours=rules.min_rest_hours), timedelta(days=rules.break_days)
        taken, counted = [latest], [latest]
        # Whether the walk wanted a session older than the oldest of `history`.
        self.ran_out = True
        for session in reversed(history[:-1]):
            if len(counted) >= rules.streak or len(taken) >= WINDOW_CAP:
                self.ran_out = False
                break
            if view.position_of(session) != here or taken[-1].performed_at - session.performed_at > gap:
                self.ran_out = False
                break
            taken.append(session)
            if counted[-1].performed_at - session.performed_at >= rest:
                counted.append(session)
        else:
            self.ran_out = len(counted) < rules.streak and len(taken) < WINDOW_CAP
        self.sessions = taken[::-1]
        self.counted = counted


def _recent(view: LadderView, history: Sequence[LoggedSession]) -> list[LoggedSession]:
    """L and every earlier ladder session at most 48 hours before it, at or below its position."""
    latest = history[-1]
    here = view.rank_of(latest)
    return [s for s in history if latest.performed_at - s.performed_at <= RECENT and view.rank_of(s) <= here]


def history_suffices(ladder: Ladder, latest: Sequence[LoggedSession]) -> bool:
    """Whether rules 4 and 6 to 9 read no ladder session older than the oldest of `latest`: the
    ladder's latest sessions, in the rules' order, none left out in between. (Rule 5 reads the 48
    hours up to L; a caller reading less than the whole history reads the sessions of those hours
    whose pain or leg symptoms could make it fire.)"""
    view = view_of(ladder)
    history = [s for s in latest if view.owns(s)]
    rules = view.rules
    if not history or len(history) < max(rules.incomplete_streak, rules.fault_streak):
        return False
    return not _Walk(view, history).ran_out


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
    recent = _recent(view, history)
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
    walk = _Walk(view, history)
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


def _unmet(walk: _Walk, step: Step, rules: Rules) -> tuple[UnmetCode, ...]:
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
