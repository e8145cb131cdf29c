"""Session-log request and response shapes (the contract's "Session logs" section)."""

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SkipValidation,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from app.errors import Problem
from app.progression.model import PainZone

USER_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
FUTURE_TOLERANCE = timedelta(minutes=5)

# RFC 3339 date-time with an offset; the shape is checked by pydantic-core's regex, and one
# Python function turns the text into a time (one call per value: a batch has 500 of them).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339_TEXT = StringConstraints(pattern=RFC3339_PATTERN)
_AS_DATE_TIME = WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN})
_AS_TEXT = PlainSerializer(lambda moment: moment.isoformat(), return_type=str)


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text.upper())
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    return value


def _moment_not_in_the_future(text: str) -> datetime:
    value = _moment(text)
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("performed_at is more than 5 minutes in the future")
    return value


if TYPE_CHECKING:  # what the fields hold once validated: the text is checked, then converted
    Rfc3339 = datetime
    PerformedAt = datetime
else:
    Rfc3339 = Annotated[str, _RFC3339_TEXT, AfterValidator(_moment), _AS_TEXT, _AS_DATE_TIME]
    PerformedAt = Annotated[str, _RFC3339_TEXT, AfterValidator(_moment_not_in_the_future), _AS_TEXT, _AS_DATE_TIME]
UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN, min_length=1, max_length=128)]
Score = Annotated[int, Strict(), Field(ge=0, le=10)]
Dose = Annotated[int, Strict(), Field(ge=0, le=600)]


@functools.lru_cache(maxsize=4096)  # a batch's items share their received_at
def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as every timestamp the service answers."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcTimestamp = Annotated[datetime, PlainSerializer(utc_text, return_type=str)]


# Text a database can store: PostgreSQL refuses NUL characters, so they are refused up front.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PainIn(Body):
    before: Score | None = None
    during: Score
    after: Score | None = None
    next_morning: Score | None = None


class SetIn(Body):
    dose: Dose


class SessionIn(Body):
    client_session_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)] | None = None
    exercise: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    performed_at: PerformedAt
    target_dose: Annotated[int, Strict(), Field(ge=1, le=600)]
    sets: list[SetIn] = Field(min_length=1, max_length=20)
    rpe: Score | None = None
    pain: PainIn
    support_used: Annotated[bool, Strict()] = False
    faults: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(default=[], max_length=20)
    red_flags: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default=[], max_length=20, description="Codes from `GET /v1/safety` for symptoms the person reported."
    )
    duration_seconds: Annotated[int, Strict(), Field(ge=0, le=86_400)] | None = None
    notes: Annotated[Text, StringConstraints(max_length=1000)] | None = None


class BatchItemIn(SessionIn):
    user_id: UserId


class BatchIn(Body):
    # Items are validated one by one by the service, so one bad item fails only itself.
    sessions: list[SkipValidation[BatchItemIn]] = Field(min_length=1, max_length=500)


class PainPatch(Body):
    next_morning: Score | None = None


class SessionPatch(Body):
    """JSON merge patch: only `pain.next_morning` and `notes` may change; null clears them."""

    pain: PainPatch | None = None
    notes: Annotated[Text, StringConstraints(max_length=1000)] | None = None


class PainOut(BaseModel):
    before: int | None
    during: int
    after: int | None
    next_morning: int | None


class SetOut(BaseModel):
    dose: int


class AssessmentOut(BaseModel):
    progression: str
    completed: bool
    qualifying: bool
    pain_zone: PainZone
    flare: bool
    red_flag: bool


class SessionOut(BaseModel):
    id: str
    user_id: str
    client_session_id: str | None
    exercise: str
    performed_at: UtcTimestamp
    target_dose: int
    sets: list[SetOut]
    rpe: int | None
    pain: PainOut
    support_used: bool
    faults: list[str]
    red_flags: list[str]
    duration_seconds: int | None
    notes: str | None
    received_at: UtcTimestamp
    assessment: AssessmentOut | None


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class BatchResult(BaseModel):
    index: int
    status: int
    session: SessionOut | None = None
    problem: Problem | None = None


class BatchOut(BaseModel):
    results: list[BatchResult]
