"""Outcome scores: one number from a standard questionnaire, with when it was taken. The
questionnaires' items are never stored (their wording is copyrighted, and the score is what a
clinician compares)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class OutcomeRow(SQLModel, table=True):
    __tablename__ = "outcome"
    __table_args__ = (
        # one user's scores in time order (the list newest first, progress oldest first)
        Index("ix_outcome_user_time", "partner_id", "user_id", "recorded_at", "seq"),
    )

    # Received order: breaks ties in recorded_at.
    seq: int | None = Field(
        default=None, sa_column=Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    )
    id: str = Field(max_length=36, unique=True)
    partner_id: int = Field(foreign_key="partner.id", ondelete="CASCADE")
    user_id: str = Field(max_length=128)
    instrument: str = Field(max_length=8)
    score: float = Field(sa_column=Column(sa.Float, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
