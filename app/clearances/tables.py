"""Clearances: a clinician cleared a person to exercise after a red flag. Only the contract's
fields are stored."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class ClearanceRow(SQLModel, table=True):
    __tablename__ = "clearance"
    __table_args__ = (
        # newest-first listing of one user's clearances
        Index("ix_clearance_user_time", "partner_id", "user_id", "cleared_at", "seq"),
        # the clearances recorded after a red flag arrived (do they cover it?)
        Index("ix_clearance_user_received", "partner_id", "user_id", "received_at", "cleared_at"),
    )

    # Received order: breaks ties in cleared_at.
    seq: int | None = Field(
        default=None, sa_column=Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    )
    id: str = Field(max_length=36, unique=True)
    partner_id: int = Field(foreign_key="partner.id", ondelete="CASCADE")
    user_id: str = Field(max_length=128)
    cleared_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # When the service received it: the clearance covers the red flags that had arrived by then.
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
