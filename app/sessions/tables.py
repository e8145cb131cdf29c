"""Session logs. Only the contract's fields are stored."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, func, literal_column
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime

# The partial index's predicate: queries that want its rows repeat it word for word.
# (A literal 0, not a parameter: PostgreSQL uses a partial index only for a query whose own
# predicate implies the index's, which a generic plan cannot know of a parameter.)
RED_FLAGGED = func.json_array_length(literal_column("red_flags")) > literal_column("0")


class SessionRow(SQLModel, table=True):
    __tablename__ = "session_log"
    __table_args__ = (
        UniqueConstraint("partner_id", "user_id", "client_session_id", name="uq_session_log_client_session"),
        # newest-first listing of one user's sessions
        Index("ix_session_log_user_time", "partner_id", "user_id", "performed_at", "seq"),
        # one user's latest sessions of given exercises (exercise filter; a ladder's steps)
        Index("ix_session_log_user_exercise_time", "partner_id", "user_id", "exercise", "performed_at", "seq"),
        # one user's latest session at each level of peak pain (severe pain pauses every ladder)
        Index("ix_session_log_user_pain_time", "partner_id", "user_id", "pain_peak", "performed_at", "seq"),
        # one user's sessions that reported red flags (they pause every ladder until cleared)
        Index(
            "ix_session_log_user_red_flagged",
            "partner_id",
            "user_id",
            "performed_at",
            "seq",
            postgresql_where=RED_FLAGGED,
            sqlite_where=RED_FLAGGED,
        ),
        # ... and by when they arrived (a flag that arrives after a clearance needs a new one)
        Index(
            "ix_session_log_user_red_flagged_received",
            "partner_id",
            "user_id",
            "received_at",
            postgresql_where=RED_FLAGGED,
            sqlite_where=RED_FLAGGED,
        ),
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
    # How far down the leg symptoms reached before and after: none, above_knee, below_knee.
    leg_symptoms_before: str | None = Field(default=None, max_length=16)
    leg_symptoms_after: str | None = Field(default=None, max_length=16)
    # The highest of the four pain scores (derived, kept for the severe-pain index).
    pain_peak: int
    duration_seconds: int | None = None
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
