"""Webhook endpoints: where a partner asks for events to be delivered, and the secrets that sign
them (the previous one stays live for a while after a rotation)."""

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoint"

    id: str = Field(max_length=36, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True, ondelete="CASCADE")
    url: str = Field(sa_column=Column(Text, nullable=False))
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    enabled: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Signs every delivery; after a rotation the previous one signs too, until `previous_secret_until`.
    secret: str = Field(max_length=64)
    previous_secret: str | None = Field(default=None, max_length=64)
    previous_secret_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
