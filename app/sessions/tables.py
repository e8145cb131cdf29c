"""Session logs. Only the contract's fields are stored."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class SessionRow(SQLModel, table=True):
    __tablename__ = "session_log"
    __table_args__ = (
        UniqueConstraint("partner_id", "user_id", "client_session_id", name="uq_session_log_client_session"),
        # newest-first listing of one user's sessions
        Index("ix_session_log_user_time", "partner_id", "user_id", "performed_at", "seq"),
        # one user's latest sessions of given exercises (exercise filter; a ladder's steps)
        Index("ix_session_log_user_exercise_time", "partner_id", "user_id", "exercise", "performed_at", "seq"),
    )

    # Received order: breaks ties in performed_at, and orders a batch's items as sent.
    seq: int | None = Field(
        default=None, sa_column=Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    )
    id: str = Field(max_length=36, unique=True)
    partner_id: int = Field(foreign_key="partner.id", ondelete="CASCADE")
    user_id: str = Field(max_length=128)
    client_session_id: str | None = Field(default=None, max_length=64)
    exercise: str = Field(max_length=64)
    # The ladder the session names (it then belongs to that one only); None: every visible
    # ladder with its exercise as a step.
    progression: str | None = Field(default=None, max_length=64)
    performed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    target_dose: int
    set_doses: list[int] = Field(sa_column=Column(JSON, nullable=False))
    rpe: int | None = None
    pain_before: int | None = None
    pain_during: int
    pain_after: int | None = None
    pain_next_morning: int | None = None
    support_used: bool
    faults: list[str] = Field(sa_column=Column(JSON, nullable=False))
    red_flags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    duration_seconds: int | None = None
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
