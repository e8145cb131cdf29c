"""Webhook endpoint request and answer shapes (the contract's "Webhooks" section)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.kit import Body, Rfc3339, Text, UtcTimestamp

# Every event an endpoint may subscribe to.
EventType = Literal[
    "session.created",
    "session.updated",
    "safety.red_flag",
    "safety.pain_stop",
    "clearance.created",
    "user.erased",
    "webhook.test",
]
Url = Annotated[Text, StringConstraints(min_length=1, max_length=2000)]
Description = Annotated[Text, StringConstraints(max_length=500)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=50)]

_URL = (
    "Where events are delivered: an `https` URL whose host resolves to public addresses only (checked now and "
    "before each delivery); up to 2000 characters."
)
_EVENTS = "The event types delivered to this endpoint: a non-empty list of the event types."
_DESCRIPTION = "What the endpoint is for, up to 500 characters; optional."
_EXAMPLE: dict[str, Any] = {
    "url": "https://hooks.example.com/stepwise",
    "events": ["safety.red_flag", "safety.pain_stop"],
    "description": "Alerts for the care team.",
}


class WebhookIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    url: Url = Field(description=_URL)
    events: Events = Field(description=_EVENTS)
    description: Description | None = Field(default=None, description=_DESCRIPTION)


def _not_null(schema: dict[str, Any]) -> None:
    """The field may be left out, never sent as null: its schema is the non-null option alone."""
    options = [option for option in schema.pop("anyOf") if option.get("type") != "null"]
    schema.update(options[0])
    schema.pop("default", None)


class WebhookPatch(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    url: Url | None = Field(default=None, description=_URL, json_schema_extra=_not_null)
    events: Events | None = Field(default=None, description=_EVENTS, json_schema_extra=_not_null)
    description: Description | None = Field(default=None, description=_DESCRIPTION + " Null removes it.")
    enabled: bool | None = Field(
        default=None, description="Whether events are delivered to it.", json_schema_extra=_not_null
    )

    @field_validator("url", "events", "enabled", mode="before")
    @classmethod
    def not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it")
        return value


class WebhookOut(BaseModel):
    id: str = Field(description="The endpoint's id, given by the service.")
    url: str = Field(description="Where events are delivered.")
    events: list[EventType] = Field(description="The event types delivered to it.")
    description: str | None = Field(description="What it is for; null when there is none.")
    enabled: bool = Field(description="Whether events are delivered to it.")
    created_at: UtcTimestamp = Field(description="When it was registered: RFC 3339 in UTC, with a `Z`.")


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The secret that signs its deliveries: `whsec_` and the base64 of 32 random bytes. Shown in "
        "this answer only; keep it."
    )


class WebhookList(BaseModel):
    items: list[WebhookOut] = Field(description="Every endpoint of the partner (at most 10), oldest first.")


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="The endpoint's new secret (`whsec_` and the base64 of 32 random bytes), shown in this answer "
        "only. For the next 24 hours each delivery carries a signature with the previous secret too."
    )


class AttemptOut(BaseModel):
    at: UtcTimestamp = Field(description="When the attempt was made.")
    response_status: int | None = Field(description="The endpoint's HTTP status; null when it gave none.")
    error: str | None = Field(description="Why no answer came (a timeout, a refused URL...); null when one did.")


class DeliveryOut(BaseModel):
    id: str = Field(description="The message's id, sent as `webhook-id` on every attempt and replay.")
    type: str = Field(description="The event type.")
    created_at: UtcTimestamp = Field(description="When the event happened.")
    status: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` while attempts remain, `delivered` after a 2xx, `failed` after the last attempt."
    )
    attempts: list[AttemptOut] = Field(description="Every attempt so far, oldest first.")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut] = Field(description="Up to `limit` messages, newest first (kept 7 days).")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class ReplayIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"since": "2026-12-01T00:00:00Z"}]})

    since: Rfc3339 = Field(description="Queue again every message for this endpoint created at or after this time.")


class Queued(BaseModel):
    queued: int = Field(description="How many messages were queued.")
