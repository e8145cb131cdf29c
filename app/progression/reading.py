"""How the rules read one session: its position, whether it is completed, a flare, severe,
spreading, qualifying, cleared; and the order sessions are read in. Pure functions."""

from collections.abc import Iterable
from datetime import datetime

from app.progression.model import (
    LEG_REACH,
    URGENCY_ORDER,
    Assessment,
    Clearance,
    Guidance,
    LegSymptoms,
    LoggedSession,
    Pain,
    PainZone,
    Performance,
    Rules,
    Step,
    UnmetCode,
    Urgency,
)


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
