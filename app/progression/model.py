"""The words and shapes of the progression rules: every literal the answers use (actions, reason
and unmet codes, pain zones, units, support, urgency), what the rules read (a ladder, its steps
and thresholds, a session's performance) and what they return. Defined here once; the API
schemas import them. The rules themselves are `app.progression.engine`."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, get_args

PainZone = Literal["low", "acceptable", "high", "stop"]
Action = Literal["start", "increase_dose", "advance_step", "repeat", "decrease_dose", "regress_step", "pause"]
ReasonCode = Literal[
    "red_flag",
    "no_history",
    "pain_stop",
    "pain_above_limit",
    "flare",
    "incomplete_streak",
    "break",
    "ready_to_progress",
    "ladder_complete",
    "keep_practising",
]
# What stood in the way of moving up, in the order answers list them (rule 8).
UnmetCode = Literal[
    "too_few_sessions",
    "not_completed",
    "rpe_missing",
    "rpe_above_easy",
    "pain_above_ok",
    "faults",
    "support_used",
    "flare",
    "red_flag",
    "too_soon",
    "next_morning_missing",
]
UNMET_ORDER: tuple[UnmetCode, ...] = get_args(UnmetCode)
Unit = Literal["seconds", "reps"]
Support = Literal["none", "optional", "required"]
Urgency = Literal["emergency", "see_clinician"]


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


class Performance(NamedTuple):
    """What the rules read from one logged session."""

    target_dose: int
    set_doses: tuple[int, ...]
    rpe: int | None
    pain: Pain
    support_used: bool
    fault_count: int
    red_flags: tuple[str, ...] = ()


class Assessment(NamedTuple):
    progression: str
    completed: bool
    qualifying: bool
    pain_zone: PainZone
    flare: bool
    red_flag: bool


# -- what a recommendation reads and returns -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedSession:
    """A session as the rules read it: who named it, when, in which received order."""

    id: str
    exercise: str
    performed_at: datetime
    received_order: int
    performance: Performance
    # The ladder the session named: it then belongs to that ladder alone (None: to every ladder
    # with its exercise as a step).
    progression: str | None = None


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
