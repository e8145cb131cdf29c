"""Clearance request and answer shapes (the contract's "Clearances" section)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.kit import Body, NotInTheFuture, Text, UtcTimestamp


class ClearanceIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"cleared_at": "2026-11-26T10:30:00+01:00", "note": "Seen by the practice physio."}]
        }
    )

    cleared_at: NotInTheFuture = Field(
        description="When a clinician saw the person and cleared them to exercise: RFC 3339 with an offset, at most "
        "5 minutes in the future. It covers the red flags of sessions performed at or before it that had arrived "
        "when this clearance is recorded."
    )
    note: Annotated[Text, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="Free-text note, up to 1000 characters; optional."
    )


class ClearanceOut(BaseModel):
    id: str = Field(description="The clearance's id, given by the service.")
    user_id: str = Field(description="The user the clearance is for.")
    cleared_at: UtcTimestamp = Field(description="When the clinician cleared the person: RFC 3339 in UTC, with a `Z`.")
    received_at: UtcTimestamp = Field(
        description="When the service recorded it: it covers red flags that had arrived by then, no later ones."
    )
    note: str | None = Field(description="The note sent with it; null when there is none.")


class ClearancePage(BaseModel):
    items: list[ClearanceOut] = Field(description="Up to `limit` clearances, newest `cleared_at` first.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")
