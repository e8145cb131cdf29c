"""Webhook endpoints: where a partner asks for events to be delivered, and the secrets that sign
them (the previous one stays live for a while after a rotation); the outbox: messages, their
deliveries to each endpoint, and each delivery's attempts."""

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
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
    # Since when every attempt to this endpoint has failed (None after a success): 5 days of it disables it.
    failing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebhookMessage(SQLModel, table=True):
    """An event, written in the same transaction as the change it tells of (the outbox). Its
    body is kept as delivered, so every attempt and replay sends and signs the same bytes."""

    __tablename__ = "webhook_message"
    __table_args__ = (Index("ix_webhook_message_partner_id_user_id", "partner_id", "user_id"),)

    id: str = Field(max_length=40, primary_key=True)  # the `webhook-id` header
    partner_id: int = Field(foreign_key="partner.id", ondelete="CASCADE")
    user_id: str | None = Field(default=None, max_length=128)  # whose data it holds (erased with them)
    type: str = Field(max_length=40)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint: pending until delivered or out of attempts (failed)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(foreign_key="webhook_message.id", ondelete="CASCADE", max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE", max_length=36, index=True)
    status: str = Field(max_length=16)  # pending, delivered, failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # While a replica sends it, no other claims it (until this time, should that replica die).
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", ondelete="CASCADE", index=True)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    response_status: int | None = None
    error: str | None = Field(default=None, max_length=200)
