"""Each user's key, wrapped by the deployment's data key (`app.sealing.crypto`)."""

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class UserKey(SQLModel, table=True):
    """One user's key: made with the first text of theirs that is stored, deleted with them."""

    __tablename__ = "user_key"

    partner_id: int = Field(foreign_key="partner.id", primary_key=True, ondelete="CASCADE")
    user_id: str = Field(primary_key=True, max_length=128)
    wrapped: str = Field(max_length=128)  # the data key's fingerprint, a dot, the sealed key
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
