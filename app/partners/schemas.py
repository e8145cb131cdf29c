"""User-token request and answer shapes (the contract's "Frontends" section)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.kit import WHOLE_NUMBER, Body, UtcTimestamp
from app.partners.tokens import MAX_TTL_SECONDS, MIN_TTL_SECONDS, TTL_SECONDS

Scope = Literal["catalogue:read", "sessions:read", "sessions:write"]


class TokenIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"scopes": ["catalogue:read", "sessions:read", "sessions:write"], "ttl_seconds": 900}]
        },
    )

    scopes: list[Scope] = Field(
        min_length=1,
        max_length=3,
        description="What the token may do: a non-empty subset of the calling key's own scopes "
        "(`catalogue:read`, `sessions:read`, `sessions:write`); a scope the key lacks is a 403.",
    )
    ttl_seconds: Annotated[int, Strict(), Field(ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS), WHOLE_NUMBER] = Field(
        default=TTL_SECONDS, description=f"Seconds until the token expires, {MIN_TTL_SECONDS}–{MAX_TTL_SECONDS}."
    )


class TokenOut(BaseModel):
    token: str = Field(
        description="The token, sent as `Authorization: Bearer <token>`. Hand it to the user's browser or app only; "
        "it is not stored, so keep it there until it expires."
    )
    user_id: str = Field(description="The one user the token acts for.")
    scopes: list[Scope] = Field(description="What the token may do, sorted.")
    expires_at: UtcTimestamp = Field(description="When the token stops working: RFC 3339 in UTC, with a `Z`.")

    @staticmethod
    def of(token: str, user_id: str, scopes: frozenset[str], expires_at: int) -> "TokenOut":
        return TokenOut(
            token=token,
            user_id=user_id,
            scopes=sorted(scopes),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
