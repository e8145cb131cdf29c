"""The kit: field types and primitives every part of the API shares (request bodies that refuse
unknown fields, RFC 3339 times, whole numbers as JSON Schema counts them, user ids, storable
text, timestamps answered in UTC). It knows no domain; every domain builds on it."""

import functools
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)

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
        raise ValueError("is more than 5 minutes in the future")
    return value


if TYPE_CHECKING:  # what the fields hold once validated: the text is checked, then converted
    Rfc3339 = datetime
    NotInTheFuture = datetime
else:
    Rfc3339 = Annotated[str, _RFC3339_TEXT, AfterValidator(_moment), _AS_TEXT, _AS_DATE_TIME]
    # A moment that has passed (a session done, a person cleared): at most 5 minutes ahead of the clock.
    NotInTheFuture = Annotated[str, _RFC3339_TEXT, AfterValidator(_moment_not_in_the_future), _AS_TEXT, _AS_DATE_TIME]
UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN, min_length=1, max_length=128)]
# Checks a user id outside a model (a fast lane's path parameter, a batch item's raw field).
USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


def _whole_number(value: object) -> object:
    """JSON Schema's integers include `8.0`: a float with no fraction counts as its integer.
    Anything else goes on to the strict check (no strings, no booleans, no 8.5)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON Schema defines one: 8 or 8.0, never "8", true or 8.5. It goes after the
# bounds, so the schema still shows them as minimum and maximum.
WHOLE_NUMBER = BeforeValidator(_whole_number)


@functools.lru_cache(maxsize=4096)  # a batch's items share their received_at
def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as every timestamp the service answers."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Answered as text, but declared as the date-time it is (the serializer's `str` would hide it).
UtcTimestamp = Annotated[
    datetime, PlainSerializer(utc_text, return_type=str), WithJsonSchema({"type": "string", "format": "date-time"})
]


# Text a database can store: PostgreSQL refuses NUL characters, so they are refused up front.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def new_id() -> str:
    """A random 128-bit id, as 32 hex digits (sessions, clearances)."""
    return os.urandom(16).hex()


def render(document: Any) -> str:
    """JSON text of a document, with the C encoder (a batch answers 500 sessions)."""
    return orjson.dumps(document).decode()


def aware_moment(text: str) -> datetime:
    """A moment as a keyset cursor holds it: with its offset, or refused (ValueError)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("a moment without an offset")
    return value
