"""Recommendation request and answer shapes (the contract's "Recommendations" section)."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.progression.model import Action, ReasonCode, Support, Unit, UnmetCode
from app.sessions.schemas import Body, Rfc3339, SessionIn, UtcTimestamp


class Prescription(BaseModel):
    step: int
    exercise: str
    sets: int
    dose: int
    unit: Unit
    support: Support


class Reason(BaseModel):
    code: ReasonCode
    message: str = Field(
        description="A sentence for the person, matching the action taken; key on `code`, not on this text."
    )
    session_ids: list[str] = Field(description="The sessions that made the rule fire, oldest first.")
    unmet: list[UnmetCode] = Field(
        description="On `keep_practising`: what stands in the way of moving up, in a fixed order. Empty otherwise."
    )


class RecommendationOut(BaseModel):
    progression: str
    as_of: UtcTimestamp
    rules_version: str = Field(
        description="Changes whenever the rules or the ladder's data change; compare for equality."
    )
    action: Action
    current: Prescription | None
    next: Prescription | None = Field(description="Null on `pause`.")
    resume: Prescription | None = Field(
        description="Only on a pause for pain: where to restart once a clinician has cleared it. Null otherwise."
    )
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
    unit: Unit
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
