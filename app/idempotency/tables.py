"""Stored first answers to requests sent with an `Idempotency-Key`."""

from datetime import datetime

from sqlalchemy import Column, ForeignKeyConstraint, Index, Text
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a request sent with an `Idempotency-Key`, kept for 24 hours.

    Written in the same transaction as the work it protects: a request that dies leaves no row,
    and a concurrent duplicate waits on the row's uniqueness until the first commits or aborts.
    """

    __tablename__ = "idempotency_record"

    partner_id: int = Field(foreign_key="partner.id", primary_key=True, ondelete="CASCADE")
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_column=Column(Text, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class IdempotencyUser(SQLModel, table=True):
    """Which users' data a stored answer holds, so erasing a user erases those answers too."""

    __tablename__ = "idempotency_user"
    __table_args__ = (
        ForeignKeyConstraint(
            ["partner_id", "key"],
            ["idempotency_record.partner_id", "idempotency_record.key"],
            ondelete="CASCADE",
            name="fk_idempotency_user_record",
        ),
        Index("ix_idempotency_user_user", "partner_id", "user_id"),
    )

    partner_id: int = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    user_id: str = Field(primary_key=True, max_length=128)
