"""The words and shapes of the progression rules: every literal the answers use (actions, reason
and unmet codes, pain zones, units, support, urgency), what the rules read (a ladder, its steps
and thresholds, a session's performance) and what they return. Defined here once; the API
schemas import them. The rules themselves are `app.progression.engine`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, get_args

PainZone = Literal["low", "acceptable", "high", "stop"]
Action = Literal["start", "increase_dose", "advance_step", "repeat", "decrease_dose", "regress_step", "pause"]
# In the order the rules are tried (rule 5's three codes in the order an answer lists them).
ReasonCode = Literal[
    "red_flag",
    "pain_stop",
    "no_history",
    "break",
    "pain_above_limit",
    "flare",
    "leg_symptoms_spreading",
    "incomplete_streak",
    "form_faults",
    "ready_to_progress",
    "ladder_complete",
    "keep_practising",
]
# What stood in the way of moving up, in the order answers list them (rule 9).
UnmetCode = Literal[
    "too_few_sessions",
    "not_completed",
    "rpe_missing",
    "rpe_above_easy",
    "pain_above_ok",
    "pain_before_high",
    "faults",
    "support_used",
    "flare",
    "red_flag",
    "leg_symptoms",
    "too_soon",
    "next_morning_missing",
]
UNMET_ORDER: tuple[UnmetCode, ...] = get_args(UnmetCode)
Unit = Literal["seconds", "reps"]
Support = Literal["none", "optional", "required"]
# From the most urgent: care now, a doctor today, a check before exercising again.
Urgency = Literal["emergency", "urgent", "see_clinician"]
URGENCY_ORDER: tuple[Urgency, ...] = get_args(Urgency)
# How far down the leg pain, tingling or numbness reached, from the least far.
LegSymptom = Literal["none", "above_knee", "below_knee"]
LEG_REACH: dict[LegSymptom, int] = {reach: order for order, reach in enumerate(get_args(LegSymptom))}


class Rules(Protocol):
    """The thresholds a ladder's rules read (read-only: the catalogue's models are frozen)."""

    @property
    def streak(self) -> int: ...
    @property
    def easy_rpe(self) -> int: ...
    @property
    def pain_ok(self) -> int: ...
    @property
    def pain_limit(self) -> int: ...
    @property
    def pain_stop(self) -> int: ...
    @property
    def flare_margin(self) -> int: ...
    @property
    def incomplete_streak(self) -> int: ...
    @property
    def fault_streak(self) -> int: ...
    @property
    def break_days(self) -> int: ...
    @property
    def min_rest_hours(self) -> int: ...


class Step(Protocol):
    @property
    def step(self) -> int: ...
    @property
    def exercise(self) -> str: ...
    @property
    def sets(self) -> int: ...
    @property
    def unit(self) -> Unit: ...
    @property
    def start(self) -> int: ...
    @property
    def target(self) -> int: ...
    @property
    def increment(self) -> int: ...
    @property
    def support(self) -> Support: ...


class Ladder(Protocol):
    @property
    def slug(self) -> str: ...
    @property
    def rules(self) -> Rules: ...
    @property
    def steps(self) -> Sequence[Step]: ...


# Immutable records; NamedTuples because a 500-session batch assesses every session and these
# are several times cheaper to build than frozen dataclasses.
class Pain(NamedTuple):
    during: int
    before: int | None = None
    after: int | None = None
    next_morning: int | None = None


class LegSymptoms(NamedTuple):
    before: LegSymptom | None = None
    after: LegSymptom | None = None


class Performance(NamedTuple):
    """What the rules read from one logged session."""

    target_dose: int
    set_doses: tuple[int, ...]
    rpe: int | None
    pain: Pain
    support_used: bool
    faults: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    leg_symptoms: LegSymptoms = LegSymptoms()


class Assessment(NamedTuple):
    progression: str
    completed: bool
    qualifying: bool
    pain_zone: PainZone
    flare: bool
    red_flag: bool
    leg_symptoms_spreading: bool


# -- what a recommendation reads and returns -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedSession:
    """A session as the rules read it: who named it, when, in which received order."""

    id: str
    exercise: str
    performed_at: datetime
    received_order: int
    performance: Performance
    # When it arrived: a clearance covers only the red flags that had arrived when it was recorded.
    received_at: datetime
    # The ladder the session named: it then belongs to that ladder alone (None: to every ladder
    # with its exercise as a step).
    progression: str | None = None


@dataclass(frozen=True, slots=True)
class Clearance:
    """A clinician cleared the person at `cleared_at`; the partner told the service at `recorded_at`."""

    cleared_at: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Guidance:
    """What the messages quote from the catalogue: each red flag's urgency and each exercise's
    correction of each of its faults."""

    urgency: Mapping[str, Urgency]
    corrections: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Prescription:
    step: int
    exercise: str
    sets: int
    dose: int
    unit: Unit
    support: Support


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    message: str
    session_ids: tuple[str, ...]
    unmet: tuple[UnmetCode, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: Action
    current: Prescription | None
    next: Prescription | None
    reasons: tuple[Reason, ...]
    resume: Prescription | None = None
