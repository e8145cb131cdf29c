"""Recommendation request and answer shapes (the contract's "Recommendations" section)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from app.catalogue.ladders import LadderIn
from app.kit import Body, NotInTheFuture, Rfc3339, UtcTimestamp
from app.progression.model import Action, ReasonCode, Support, Unit, UnmetCode
from app.sessions.schemas import SESSION_EXAMPLE, SessionIn


class Prescription(BaseModel):
    step: int = Field(description="The step's number on the ladder, counting from 1 at the bottom.")
    exercise: str = Field(description="The step's exercise slug.")
    sets: int = Field(description="How many sets the step prescribes.")
    dose: int = Field(
        description="The dose of each set at this position: repetitions (each side, for a per-side exercise) or "
        "seconds, per `unit`."
    )
    unit: Unit = Field(description="How the dose is counted: `reps`, or `seconds` (one hold per set).")
    support: Support = Field(
        description="Whether a hand on a chair, wall or rail is `required`, `optional` or not expected (`none`)."
    )


class Reason(BaseModel):
    code: ReasonCode = Field(description="The rule that fired; key your app's logic on this.")
    message: str = Field(
        description="A sentence for the person, matching the action taken; key on `code`, not on this text."
    )
    session_ids: list[str] = Field(description="The sessions that made the rule fire, oldest first.")
    unmet: list[UnmetCode] = Field(
        description="On `keep_practising`: what stands in the way of moving up, in a fixed order. Empty otherwise."
    )


class RecommendationOut(BaseModel):
    progression: str = Field(description="The ladder's slug.")
    as_of: UtcTimestamp = Field(
        description="The instant the answer is for: RFC 3339 in UTC, with a `Z`; sessions performed after it are "
        "left out."
    )
    rules_version: str = Field(
        description="Changes whenever the rules or the ladder's data change; compare for equality."
    )
    action: Action = Field(description="What to do next: start, move one position up or down, repeat, or pause.")
    current: Prescription | None = Field(
        description="The position of the latest session on the ladder; null when the ladder has no session."
    )
    next: Prescription | None = Field(
        description="The position to practise next: the new one on a move, the current one on `repeat`, the first "
        "step at its start on `start`; null on `pause`."
    )
    resume: Prescription | None = Field(
        description="Only on a pause for pain: after severe pain (`pain_stop`), the gentler position to restart at "
        "after a rest; at the easiest position, when recent pain, a flare or spreading leg symptoms did not settle, "
        "that position. Null otherwise."
    )
    reasons: list[Reason] = Field(
        description="Why: the rule that decided; on a step down for recent pain, each of `pain_above_limit`, "
        "`flare` and `leg_symptoms_spreading` that applies, in that order."
    )


class EvaluatedSessionIn(SessionIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "s-101", **SESSION_EXAMPLE}]})

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Your id for the session, 1–64 characters, used in `session_ids`; without one it is `#<index>`.",
    )
    received_at: Rfc3339 | None = Field(
        default=None,
        description="When your service received the session (RFC 3339 with an offset; default `performed_at`). "
        "It decides which clearances cover the session's red flags, and never reorders sessions.",
    )


class EvaluatedClearanceIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cleared_at": "2026-11-26T10:30:00Z"}]})

    cleared_at: NotInTheFuture = Field(
        description="When a clinician cleared the person to exercise: RFC 3339 with an offset, at most 5 minutes in "
        "the future."
    )
    recorded_at: Rfc3339 | None = Field(
        default=None,
        description="When the clearance was recorded (default `cleared_at`): it covers red flags on sessions "
        "performed at or before `cleared_at` and received at or before this, and counts only once `as_of` has "
        "reached it.",
    )


def _slug_or_draft(value: object) -> str:
    return "draft" if isinstance(value, dict | LadderIn) else "slug"


class EvaluateIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "progression": "lunge-ladder",
                    "as_of": "2026-11-25T08:00:00Z",
                    "sessions": [
                        {
                            "id": "s-101",
                            "exercise": "reverse-lunge",
                            "performed_at": "2026-11-23T18:00:00Z",
                            "target_dose": 8,
                            "sets": [{"dose": 8}, {"dose": 8}, {"dose": 8}],
                            "rpe": 4,
                            "pain": {"before": 1, "during": 2, "next_morning": 1},
                        },
                        {
                            "id": "s-102",
                            "exercise": "reverse-lunge",
                            "performed_at": "2026-11-24T18:30:00Z",
                            "target_dose": 8,
                            "sets": [{"dose": 8}, {"dose": 8}, {"dose": 8}],
                            "rpe": 3,
                            "pain": {"during": 1},
                        },
                    ],
                }
            ]
        }
    )

    progression: Annotated[
        Annotated[Annotated[str, StringConstraints(min_length=1, max_length=64)], Tag("slug")]
        | Annotated[LadderIn, Tag("draft")],
        Discriminator(_slug_or_draft),
    ] = Field(
        description="The ladder: its slug, e.g. `lunge-ladder`; or a whole draft ladder (`LadderIn`), checked as "
        "a published one is and stored nowhere, to try it on histories first. A draft's answer has "
        "`rules_version` `draft`."
    )
    as_of: Rfc3339 | None = Field(
        default=None, description="The instant to answer for: RFC 3339 with an offset; default now."
    )
    sessions: list[EvaluatedSessionIn] = Field(
        default=[],
        max_length=1000,
        description="The history to judge, 0–1000 sessions, counted as received in list order; none answers `start`.",
    )
    clearances: list[EvaluatedClearanceIn] = Field(
        default=[],
        max_length=100,
        description="Clearances recorded for the person, 0–100: a red flag pauses every ladder until one covers it.",
    )


class RoutineBlockOut(BaseModel):
    exercise: str = Field(description="The exercise's slug.")
    sets: int = Field(description="How many sets, 1–20.")
    dose: int = Field(
        description="The dose of each set, 1–600: repetitions (each side, for a per-side exercise) or seconds, "
        "per `unit`."
    )
    unit: Unit = Field(description="How the dose is counted: `reps`, or `seconds` (one hold per set).")
    rest_seconds: int = Field(description="Rest after each set, in seconds (0–600).")
    notes: str = Field(description="The dose in words, e.g. `3 x 8 reps each side.`, then the block's guidance.")


class TodaysRoutine(BaseModel):
    """Today's routine for one user, in the shape of a catalogue routine, with the
    recommendation it was built from."""

    slug: str = Field(description="`<progression>-today`, e.g. `lunge-ladder-today`.")
    name: str = Field(description="A title for today's routine, naming the ladder.")
    summary: str = Field(
        description="Today's plan in a sentence; on `pause`, the advice to follow instead of exercising."
    )
    duration_minutes: int = Field(
        description="A rough length in whole minutes: at least 1, or 0 when there are no blocks."
    )
    blocks: list[RoutineBlockOut] = Field(
        description="Warm-up, the recommended step, then the daily habit (a partner's ladder: the recommended step "
        "alone); empty on `pause`."
    )
    recommendation: RecommendationOut = Field(description="The recommendation the routine was built from.")
