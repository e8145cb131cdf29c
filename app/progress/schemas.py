"""Outcome and progress shapes (the contract's "Progress and outcomes" section)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from app.kit import Body, NotInTheFuture, Text, UtcTimestamp
from app.progress.instruments import INSTRUMENTS, InstrumentCode
from app.recommendations.schemas import RecommendationOut
from app.sessions.schemas import PainOut

_INSTRUMENTS_TEXT = "; ".join(f"`{code}`, {instrument.describe()}" for code, instrument in INSTRUMENTS.items())


def _each_instruments_range(schema: dict[str, Any]) -> None:
    """Each instrument's range in the schema itself (JSON Schema's if/then), so that generated
    clients and test tools know it, not only this service's check."""
    schema["examples"] = [{"instrument": "odi", "score": 34, "recorded_at": "2026-11-26T10:30:00+01:00"}]
    schema["allOf"] = [
        {
            "if": {"properties": {"instrument": {"const": code}}, "required": ["instrument"]},
            "then": {
                "properties": {
                    "score": {"minimum": instrument.low, "maximum": instrument.high}
                    | ({"multipleOf": 1} if instrument.whole else {})
                }
            },
        }
        for code, instrument in INSTRUMENTS.items()
    ]


class OutcomeIn(Body):
    model_config = ConfigDict(json_schema_extra=_each_instruments_range)

    instrument: InstrumentCode = Field(description=f"Which questionnaire the score is from: {_INSTRUMENTS_TEXT}.")
    score: Annotated[float, Field(strict=True, allow_inf_nan=False)] = Field(
        json_schema_extra={
            "minimum": min(i.low for i in INSTRUMENTS.values()),
            "maximum": max(i.high for i in INSTRUMENTS.values()),
        },
        description="The questionnaire's total score, within its instrument's range (`rmdq` in whole points). "
        "Only the score is stored, never the answers to the questionnaire's items.",
    )
    recorded_at: NotInTheFuture = Field(
        description="When the person filled in the questionnaire: RFC 3339 with an offset, at most 5 minutes in "
        "the future."
    )
    note: Annotated[Text, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="Free-text note, up to 1000 characters; optional."
    )

    @field_validator("score")
    @classmethod
    def _within_range(cls, score: float, info: ValidationInfo) -> float:
        instrument = INSTRUMENTS.get(info.data.get("instrument", ""))
        if instrument is None:  # the instrument itself is refused
            return score
        if not instrument.low <= score <= instrument.high:
            raise ValueError(f"a {info.data['instrument']} score is {instrument.low:g} to {instrument.high:g}")
        if instrument.whole and not float(score).is_integer():
            raise ValueError(f"a {info.data['instrument']} score is a whole number")
        return score


class OutcomeOut(BaseModel):
    id: str = Field(description="The score's id, given by the service.")
    user_id: str = Field(description="The user it belongs to.")
    instrument: InstrumentCode = Field(description="Which questionnaire it is from.")
    score: float = Field(description="The total score.")
    recorded_at: UtcTimestamp = Field(description="When the questionnaire was filled in: RFC 3339 in UTC.")
    received_at: UtcTimestamp = Field(description="When the service recorded it.")
    note: str | None = Field(description="The note sent with it; null when there is none.")


class OutcomePage(BaseModel):
    items: list[OutcomeOut] = Field(description="Up to `limit` scores, newest `recorded_at` first.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class ProgressSession(BaseModel):
    id: str = Field(description="The session's id.")
    performed_at: UtcTimestamp = Field(description="When it was done: RFC 3339 in UTC.")
    position: int = Field(description="Its 1-based position on the ladder (step and dose), bottom to top.")
    step: int = Field(description="The ladder step it practised (1 is the easiest).")
    exercise: str = Field(description="The exercise's slug.")
    dose: int = Field(description="The target dose it aimed at, in the step's unit (reps or seconds).")
    pain: PainOut = Field(description="Its pain scores, 0-10.")
    rpe: int | None = Field(description="How hard it felt (Borg CR10), or null.")
    qualifying: bool = Field(description="Whether it counts towards moving up (the ladder's rules).")


class ProgressWeek(BaseModel):
    week: str = Field(description='The ISO week, e.g. "2026-W48" (weeks start on Monday, dates in UTC).')
    sessions: int = Field(description="Sessions on the ladder that week.")
    days_active: int = Field(description="Days with at least one of them.")
    highest_position: int | None = Field(description="The highest position practised; null in a week without any.")
    mean_pain_during: float | None = Field(description="The mean pain during, to one decimal; null without any.")


class OutcomeTrend(BaseModel):
    instrument: InstrumentCode = Field(description="Which questionnaire.")
    baseline: float = Field(description="The first score recorded (at or before `until`).")
    latest: float = Field(description="The latest score recorded at or before `until`.")
    change: float = Field(description="`latest` minus `baseline`.")
    meaningful: bool | None = Field(
        description="Whether the change reaches the instrument's minimal clinically important difference in the "
        "better direction (odi 10, rmdq 5, psfs 2 up, nprs 2); null when there is a single score."
    )


class ProgressOut(BaseModel):
    progression: str = Field(description="The ladder's slug.")
    since: UtcTimestamp = Field(description="The start of the period shown.")
    until: UtcTimestamp = Field(description="The end of the period shown.")
    sessions: list[ProgressSession] = Field(description="The ladder's sessions in the period, oldest first.")
    weeks: list[ProgressWeek] = Field(description="Every ISO week the period touches, oldest first.")
    outcomes: list[OutcomeTrend] = Field(
        description="One entry per instrument with a score, in the order odi, rmdq, psfs, nprs."
    )
    recommendation: RecommendationOut = Field(description="The current recommendation on the ladder.")
