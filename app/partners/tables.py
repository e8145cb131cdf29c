"""Partner and API-key tables. Keys are stored only as SHA-256 digests."""

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Partner(SQLModel, table=True):
    __tablename__ = "partner"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    # Requests per minute for all the partner's keys together; None: the service's default.
    rate_limit_per_minute: int | None = Field(default=None)
    # Since when an operator has turned the partner off (`stepwise partners disable`): every key
    # and user token of it is refused; None while it is on.
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True, ondelete="CASCADE")
    # The key's first characters, kept in clear so an operator can name a key to revoke it.
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class PartnerOrigin(SQLModel, table=True):
    """A browser origin the partner allows (CORS): `https://app.example.com`, as browsers send it."""

    __tablename__ = "partner_origin"

    partner_id: int = Field(foreign_key="partner.id", primary_key=True, ondelete="CASCADE")
    origin: str = Field(max_length=300, primary_key=True)
