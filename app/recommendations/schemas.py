"""Recommendation request and answer shapes (the contract's "Recommendations" section)."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.sessions.schemas import Body, Rfc3339, SessionIn, UtcTimestamp


class Prescription(BaseModel):
    step: int
    exercise: str
    sets: int
    dose: int
    unit: Literal["seconds", "reps"]
    support: Literal["none", "optional", "required"]


class Reason(BaseModel):
    code: Literal[
        "no_history", "pain_stop", "pain_above_limit", "flare", "incomplete_streak", "break",
        "ready_to_progress", "ladder_complete", "keep_practising",
    ]
    message: str
    session_ids: list[str]


class RecommendationOut(BaseModel):
    progression: str
    as_of: UtcTimestamp
    rules_version: str
    action: Literal["start", "increase_dose", "advance_step", "repeat", "decrease_dose", "regress_step", "pause"]
    current: Prescription | None
    next: Prescription | None
    reasons: list[Reason]


class EvaluatedSessionIn(SessionIn):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class EvaluateIn(Body):
    progression: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    as_of: Rfc3339 | None = None
    sessions: list[EvaluatedSessionIn] = Field(default=[], max_length=1000)


class RoutineBlockOut(BaseModel):
    exercise: str
    sets: int
    dose: int
    unit: Literal["seconds", "reps"]
    rest_seconds: int
    notes: str


class TodaysRoutine(BaseModel):
    """Today's routine for one user, in the shape of a catalogue routine, with the
    recommendation it was built from."""

    slug: str
    name: str
    summary: str
    duration_minutes: int
    blocks: list[RoutineBlockOut]
    recommendation: RecommendationOut
