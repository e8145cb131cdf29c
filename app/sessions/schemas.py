"""Session-log request and response shapes (the contract's "Session logs" section)."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from app.errors import Problem
from app.kit import WHOLE_NUMBER, Body, NotInTheFuture, Text, UserId, UtcTimestamp
from app.progression.model import LegSymptom, PainZone

Score = Annotated[int, Strict(), Field(ge=0, le=10), WHOLE_NUMBER]
Dose = Annotated[int, Strict(), Field(ge=0, le=600), WHOLE_NUMBER]


class PainIn(Body):
    before: Score | None = Field(
        default=None,
        description="Pain just before the session, 0–10 (0 is no pain); optional, counted as 0 for the flare check.",
    )
    during: Score = Field(description="Pain during the session, 0–10 (0 is no pain).")
    after: Score | None = Field(default=None, description="Pain after the session, 0–10 (0 is no pain); optional.")
    next_morning: Score | None = Field(
        default=None,
        description="Pain the next morning, 0–10 (0 is no pain); often sent later by PATCH, and needed to move up.",
    )


class LegSymptomsIn(Body):
    before: LegSymptom | None = Field(
        default=None,
        description="How far down a leg pain, tingling or numbness reached just before the session: `none`, "
        "`above_knee` or `below_knee`; optional.",
    )
    after: LegSymptom | None = Field(
        default=None,
        description="How far down a leg they reached after the session: `none`, `above_knee` or `below_knee`; "
        "optional. Further down than before (spreading), or below the knee, keeps the session from counting "
        "towards moving up.",
    )


class SetIn(Body):
    dose: Dose = Field(
        description="What the set reached, 0–600: repetitions (each side, for a per-side exercise) or seconds held, "
        "per the exercise's `unit`."
    )


# A reverse-lunge session as a partner app logs it: the example of SessionIn, and the base of the
# batch item's and the evaluated session's examples.
SESSION_EXAMPLE: dict[str, Any] = {
    "client_session_id": "app-4f1c2a",
    "exercise": "reverse-lunge",
    "performed_at": "2026-11-23T18:00:00+01:00",
    "target_dose": 8,
    "sets": [{"dose": 8}, {"dose": 8}, {"dose": 7}],
    "rpe": 5,
    "pain": {"before": 1, "during": 2, "after": 2},
    "support_used": False,
    "faults": ["hips_uneven", "short_depth"],
    "red_flags": [],
    "leg_symptoms": {"before": "none", "after": "above_knee"},
    "duration_seconds": 540,
    "notes": "Left side felt wobbly on the last set.",
}


class SessionIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [SESSION_EXAMPLE]})

    client_session_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Your own id for the session, 1–64 characters: a repeat for the same user with the same content "
        "answers 200 with the stored session, with other content 409.",
    )
    exercise: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The exercise's slug from the catalogue, e.g. `reverse-lunge`; an unknown slug is a 422."
    )
    progression: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="The ladder the session belongs to: a ladder you can see with this exercise as a step (else "
        "a 422). Left out, the session belongs to every such ladder, and is assessed on your own oldest one with "
        "the exercise, else on the built-in one.",
    )
    performed_at: NotInTheFuture = Field(
        description="When the session was done: RFC 3339 with an offset, at most 5 minutes in the future."
    )
    target_dose: Annotated[int, Strict(), Field(ge=1, le=600), WHOLE_NUMBER] = Field(
        description="The planned dose of each set, 1–600: repetitions (each side, for a per-side exercise) or "
        "seconds, per the exercise's `unit`."
    )
    sets: list[SetIn] = Field(min_length=1, max_length=20, description="The sets done, in order: 1–20 of them.")
    rpe: Score | None = Field(
        default=None,
        description="Rate of perceived exertion on the Borg CR10 scale, 0–10 (0 is no effort at all); "
        "needed to move up.",
    )
    pain: PainIn = Field(description="Pain scores for the session, each 0–10 where 0 is no pain.")
    support_used: Annotated[bool, Strict()] = Field(
        default=False, description="Whether the person held on to a chair, wall or rail for balance."
    )
    faults: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default=[],
        max_length=20,
        description="Technique faults seen, at most 20: codes from the exercise's `faults` in the catalogue.",
    )
    red_flags: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default=[],
        max_length=20,
        description="Codes from `GET /v1/safety` for the warning signs the person reported. A red flag pauses every "
        "ladder of the user until a clearance recorded after it covers it.",
    )
    leg_symptoms: LegSymptomsIn | None = Field(
        default=None,
        description="How far down a leg pain, tingling or numbness reached, before and after the session; optional.",
    )
    duration_seconds: Annotated[int, Strict(), Field(ge=0, le=86_400), WHOLE_NUMBER] | None = Field(
        default=None, description="How long the session took, in seconds (0–86400); optional."
    )
    notes: Annotated[Text, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="Free-text notes, up to 1000 characters."
    )


class BatchItemIn(SessionIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "user-1842", **SESSION_EXAMPLE}]})

    user_id: UserId = Field(
        description="The user the session belongs to: 1–128 characters of letters, digits and `._:-`."
    )


def _an_object(value: Any, _handler: ValidatorFunctionWrapHandler) -> Any:
    """A batch item as sent, once it is a JSON object; its fields are the service's to judge."""
    if not isinstance(value, dict):
        raise PydanticCustomError("batch_item", "Each item of `sessions` must be a JSON object.")
    return value


class BatchIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessions": [
                        {
                            "user_id": "user-1842",
                            "client_session_id": "app-4f1c2a",
                            "exercise": "reverse-lunge",
                            "performed_at": "2026-11-23T18:00:00+01:00",
                            "target_dose": 8,
                            "sets": [{"dose": 8}, {"dose": 8}, {"dose": 8}],
                            "rpe": 4,
                            "pain": {"before": 1, "during": 2, "after": 1},
                        },
                        {
                            "user_id": "user-2077",
                            "client_session_id": "app-9b03e7",
                            "exercise": "half-squat-hold",
                            "performed_at": "2026-11-23T07:30:00-05:00",
                            "target_dose": 10,
                            "sets": [{"dose": 10}, {"dose": 10}, {"dose": 5}],
                            "rpe": 6,
                            "pain": {"before": 3, "during": 4},
                            "support_used": True,
                            "faults": ["thigh_dominant"],
                        },
                    ]
                }
            ]
        }
    )

    # Each item must be an object here (else the whole request is a 422); its fields are checked
    # one item at a time by the service, so one bad item fails only itself.
    sessions: list[Annotated[BatchItemIn, WrapValidator(_an_object)]] = Field(
        min_length=1,
        max_length=500,
        description="The sessions to log, 1–500, each for its own user; each is judged on its own, "
        "so one bad item fails only itself.",
    )


class PainPatch(Body):
    next_morning: Score | None = Field(
        default=None, description="Pain the next morning, 0–10 (0 is no pain); null clears it."
    )


class SessionPatch(Body):
    """JSON merge patch: only `pain.next_morning` and `notes` may change; null clears them."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pain": {"next_morning": 1}, "notes": "Back felt fine the next morning."}]}
    )

    pain: PainPatch | None = Field(
        default=None, description="Only `next_morning` may change here; `pain` itself cannot be set to null."
    )
    notes: Annotated[Text, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="New free-text notes, up to 1000 characters; null clears them."
    )


class PainOut(BaseModel):
    before: int | None = Field(description="Pain just before the session, 0–10 (0 is no pain); null if not given.")
    during: int = Field(description="Pain during the session, 0–10 (0 is no pain).")
    after: int | None = Field(description="Pain after the session, 0–10 (0 is no pain); null if not given.")
    next_morning: int | None = Field(description="Pain the next morning, 0–10 (0 is no pain); null until it is sent.")


class LegSymptomsOut(BaseModel):
    before: LegSymptom | None = Field(description="How far down the leg symptoms reached before; null if not given.")
    after: LegSymptom | None = Field(description="How far down the leg symptoms reached after; null if not given.")


class SetOut(BaseModel):
    dose: int = Field(
        description="What the set reached, 0–600: repetitions (each side, for a per-side exercise) or seconds held, "
        "per the exercise's `unit`."
    )


class AssessmentOut(BaseModel):
    progression: str = Field(description="The slug of the ladder whose rules assessed the session.")
    completed: bool = Field(
        description="Whether at least the step's `sets` sets reached the larger of `target_dose` and the step's "
        "`start`."
    )
    qualifying: bool = Field(
        description="Whether the session counts towards moving up: completed, easy, low pain during and after, pain "
        "before within the limit, no faults, no flare, no red flag, no support where none is expected, and leg "
        "symptoms neither spreading nor below the knee after it."
    )
    pain_zone: PainZone = Field(
        description="The worst pain during or after against the ladder's thresholds: `low` (at or below `pain_ok`), "
        "`acceptable` (at or below `pain_limit`), `high`, or `stop` (at or above `pain_stop`, next morning too)."
    )
    flare: bool = Field(
        description="Whether next-morning pain did not settle: above `pain_ok` and more than `flare_margin` above "
        "the pain before."
    )
    red_flag: bool = Field(description="Whether the session reported any red flag.")
    leg_symptoms_spreading: bool = Field(
        description="Whether leg symptoms reached further down the leg after the session than before it (both given)."
    )


class SessionOut(BaseModel):
    id: str = Field(description="The session's id, given by the service.")
    user_id: str = Field(description="The user the session belongs to.")
    client_session_id: str | None = Field(description="Your own id for the session; null when none was sent.")
    exercise: str = Field(description="The exercise's slug.")
    progression: str | None = Field(description="The ladder the session named; null when it named none.")
    performed_at: UtcTimestamp = Field(description="When the session was done: RFC 3339 in UTC, with a `Z`.")
    target_dose: int = Field(
        description="The planned dose of each set, 1–600: repetitions (each side, for a per-side exercise) or "
        "seconds, per the exercise's `unit`."
    )
    sets: list[SetOut] = Field(description="The sets done, in order.")
    rpe: int | None = Field(
        description="Rate of perceived exertion on the Borg CR10 scale, 0–10 (0 is no effort at all); null if not "
        "given."
    )
    pain: PainOut = Field(description="Pain scores for the session, each 0–10 where 0 is no pain.")
    support_used: bool = Field(description="Whether the person held on to a chair, wall or rail for balance.")
    faults: list[str] = Field(description="Technique fault codes logged, from the exercise's `faults`.")
    red_flags: list[str] = Field(description="Red-flag codes reported, from `GET /v1/safety`.")
    leg_symptoms: LegSymptomsOut | None = Field(
        description="How far down a leg symptoms reached, before and after; null when neither was given."
    )
    duration_seconds: int | None = Field(description="How long the session took, in seconds; null if not given.")
    notes: str | None = Field(description="Free-text notes; null when there are none.")
    received_at: UtcTimestamp = Field(description="When the service received the session: RFC 3339 in UTC, with a `Z`.")
    assessment: AssessmentOut | None = Field(
        description="How the rules of the ladder the exercise is on read the session; null when it is on no ladder."
    )


class SessionPage(BaseModel):
    items: list[SessionOut] = Field(description="Up to `limit` sessions, newest `performed_at` first.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class BatchResult(BaseModel):
    index: int = Field(description="The item's zero-based place in the request's `sessions`.")
    status: int = Field(
        description="The item's HTTP status: 201 stored, 200 already stored with the same content, 409 or 422 refused."
    )
    session: SessionOut | None = Field(default=None, description="The stored session, on 200 or 201; absent otherwise.")
    problem: Problem | None = Field(
        default=None, description="Why the item was refused, on 409 or 422; absent otherwise."
    )


class BatchOut(BaseModel):
    results: list[BatchResult] = Field(description="One result per item, in the order the items were sent.")
