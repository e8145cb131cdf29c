"""Pure functions of the progression rules (`progression.md`): no I/O, no web, no database.

Inputs are plain data: a ladder (steps and rule thresholds, as the catalogue serves them) and
sessions as logged. The session-log service and the recommendation endpoints both call these.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, Protocol

PainZone = Literal["low", "acceptable", "high", "stop"]


class Rules(Protocol):
    streak: int
    easy_rpe: int
    pain_ok: int
    pain_limit: int
    pain_stop: int
    flare_margin: int
    incomplete_streak: int
    break_days: int


class Step(Protocol):
    step: int
    exercise: str
    sets: int
    unit: str
    start: int
    target: int
    increment: int
    support: str


class Ladder(Protocol):
    slug: str
    rules: Rules
    steps: Sequence[Step]


# Immutable records; NamedTuples because a 500-session batch assesses every session and these
# are several times cheaper to build than frozen dataclasses.
class Pain(NamedTuple):
    during: int
    before: int | None = None
    after: int | None = None
    next_morning: int | None = None


class Performance(NamedTuple):
    """What the rules read from one logged session."""

    target_dose: int
    set_doses: tuple[int, ...]
    rpe: int | None
    pain: Pain
    support_used: bool
    fault_count: int


class Assessment(NamedTuple):
    progression: str
    completed: bool
    qualifying: bool
    pain_zone: PainZone
    flare: bool


def position_dose(step: Step, target_dose: int) -> int:
    """The step's dose a target counts as: its highest dose not above it, within start..target."""
    if target_dose <= step.start:
        return step.start
    if target_dose >= step.target:
        return step.target
    return step.start + (target_dose - step.start) // step.increment * step.increment


def is_flare(pain: Pain, rules: Rules) -> bool:
    return pain.next_morning is not None and pain.next_morning > (pain.before or 0) + rules.flare_margin


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
    target = performance.target_dose
    return len([dose for dose in performance.set_doses if dose >= target]) >= step.sets


def is_qualifying(performance: Performance, step: Step, rules: Rules, *, completed: bool | None = None) -> bool:
    pain = performance.pain
    return (
        (is_completed(performance, step) if completed is None else completed)
        and performance.rpe is not None
        and performance.rpe <= rules.easy_rpe
        and pain.during <= rules.pain_ok
        and (pain.after is None or pain.after <= rules.pain_ok)
        and performance.fault_count == 0
        and not is_flare(pain, rules)
        and not (step.support == "none" and performance.support_used)
    )


def assess(performance: Performance, *, progression: str, step: Step, rules: Rules) -> Assessment:
    completed = is_completed(performance, step)
    return Assessment(
        progression=progression,
        completed=completed,
        qualifying=is_qualifying(performance, step, rules, completed=completed),
        pain_zone=pain_zone(performance.pain, rules),
        flare=is_flare(performance.pain, rules),
    )


# -- recommending the next step ---------------------------------------------------------------

Action = Literal["start", "increase_dose", "advance_step", "repeat", "decrease_dose", "regress_step", "pause"]

MESSAGES = {
    "no_history": "No sessions on this ladder yet: start at the first step.",
    "pain_stop": "Pain reached the stop level: pause the ladder and seek clinical advice.",
    "pain_above_limit": "Pain during or after the last session was above the limit: step back one position.",
    "flare": "Pain the next morning had not settled back: step back one position.",
    "incomplete_streak": "The last sessions at this position were not completed: step back one position.",
    "break": "The last session was a while ago: step back one position to ease back in.",
    "ready_to_progress": "The last sessions at this position were complete, easy and comfortable: move up one position.",
    "ladder_complete": "The top of the ladder is reached: keep practising it.",
    "keep_practising": "Keep practising at this position until it is complete, easy and comfortable.",
}


@dataclass(frozen=True, slots=True)
class LoggedSession:
    """A session as the rules read it: who named it, when, in which received order."""

    id: str
    exercise: str
    performed_at: datetime
    received_order: int
    performance: Performance


@dataclass(frozen=True, slots=True)
class Prescription:
    step: int
    exercise: str
    sets: int
    dose: int
    unit: str
    support: str


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    session_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: Action
    current: Prescription | None
    next: Prescription | None
    reasons: tuple[Reason, ...]


def positions(ladder: Ladder) -> list[tuple[int, int]]:
    """Every (step index, dose) of the ladder, bottom to top."""
    return [
        (index, dose)
        for index, step in enumerate(ladder.steps)
        for dose in range(step.start, step.target + 1, step.increment)
    ]


def _prescription(ladder: Ladder, position: tuple[int, int]) -> Prescription:
    step = ladder.steps[position[0]]
    return Prescription(step.step, step.exercise, step.sets, position[1], step.unit, step.support)


def _reason(code: str, *sessions: LoggedSession) -> Reason:
    return Reason(code, MESSAGES[code], tuple(s.id for s in sessions))


def window(ladder: Ladder) -> int:
    """How many of the latest ladder sessions the rules can look at."""
    return max(ladder.rules.streak, ladder.rules.incomplete_streak, 1)


def recommend(ladder: Ladder, sessions: Sequence[LoggedSession], as_of: datetime) -> Recommendation:
    """The next step on `ladder` after `sessions`, by the first matching rule of progression.md."""
    rules = ladder.rules
    step_index = {step.exercise: index for index, step in enumerate(ladder.steps)}
    history = sorted(
        (s for s in sessions if s.exercise in step_index and s.performed_at <= as_of),
        key=lambda s: (s.performed_at, s.received_order),
    )
    ladder_positions = positions(ladder)
    if not history:
        return Recommendation("start", None, _prescription(ladder, ladder_positions[0]), (_reason("no_history"),))

    def position_of(session: LoggedSession) -> tuple[int, int]:
        index = step_index[session.exercise]
        return index, position_dose(ladder.steps[index], session.performance.target_dose)

    latest = history[-1]
    current = position_of(latest)
    here = ladder_positions.index(current)
    at_bottom, at_top = here == 0, here == len(ladder_positions) - 1

    def move(offset: int, reasons: tuple[Reason, ...]) -> Recommendation:
        target = ladder_positions[here + offset]
        same_step = target[0] == current[0]
        action: Action = (
            ("increase_dose" if same_step else "advance_step") if offset > 0 else ("decrease_dose" if same_step else "regress_step")
        )
        return Recommendation(action, _prescription(ladder, current), _prescription(ladder, target), reasons)

    def stay(action: Action, reasons: tuple[Reason, ...]) -> Recommendation:
        prescription = _prescription(ladder, current)
        return Recommendation(action, prescription, None if action == "pause" else prescription, reasons)

    pain, step = latest.performance.pain, ladder.steps[current[0]]
    # Rule 2: pain at the stop level, during, after or the next morning.
    if any(p is not None and p >= rules.pain_stop for p in (pain.during, pain.after, pain.next_morning)):
        return stay("pause", (_reason("pain_stop", latest),))
    # Rule 3: pain above the limit, or a flare: one position down (pause at the bottom).
    reasons = []
    if pain.during > rules.pain_limit or (pain.after is not None and pain.after > rules.pain_limit):
        reasons.append(_reason("pain_above_limit", latest))
    if is_flare(pain, rules):
        reasons.append(_reason("flare", latest))
    if reasons:
        return stay("pause", tuple(reasons)) if at_bottom else move(-1, tuple(reasons))
    # Rule 4: the last `incomplete_streak` sessions all here and all incomplete.
    recent = history[-rules.incomplete_streak :]
    if len(recent) == rules.incomplete_streak and all(
        position_of(s) == current and not is_completed(s.performance, ladder.steps[current[0]]) for s in recent
    ):
        reason = (_reason("incomplete_streak", *recent),)
        return stay("repeat", reason) if at_bottom else move(-1, reason)
    # Rule 5: a break longer than `break_days`.
    if as_of - latest.performed_at > timedelta(days=rules.break_days):
        reason = (_reason("break", latest),)
        return stay("repeat", reason) if at_bottom else move(-1, reason)
    # Rule 6: the last `streak` sessions all here and all qualifying.
    recent = history[-rules.streak :]
    if len(recent) == rules.streak and all(
        position_of(s) == current and is_qualifying(s.performance, step, rules) for s in recent
    ):
        if at_top:
            return stay("repeat", (_reason("ladder_complete", *recent),))
        return move(+1, (_reason("ready_to_progress", *recent),))
    # Rule 7.
    return stay("repeat", (_reason("keep_practising", latest),))
