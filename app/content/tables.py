"""Partners' own exercises and ladders: each stored as the document the partner wrote, under its
partner and slug; never touched by the built-in catalogue's sync, nor by erasing a user.

`partner_content_revision` counts each partner's changes, so every replica notices one (it
polls the small table) and rebuilds only that partner's view of the catalogue."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlmodel import Field, SQLModel

from app.partners.tables import utcnow


class _PartnerDocument(SQLModel):
    """A document a partner wrote, under its partner and slug (the columns both tables share)."""

    partner_id: int = Field(foreign_key="partner.id", primary_key=True, ondelete="CASCADE")
    slug: str = Field(primary_key=True, max_length=64)
    document: dict[str, Any] = Field(sa_type=JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


class PartnerExerciseRow(_PartnerDocument, table=True):
    __tablename__ = "partner_exercise"


class PartnerProgressionRow(_PartnerDocument, table=True):
    """(The oldest of a partner's ladders with an exercise assesses that exercise's sessions.)"""

    __tablename__ = "partner_progression"


class PartnerContentRevision(SQLModel, table=True):
    __tablename__ = "partner_content_revision"

    partner_id: int = Field(foreign_key="partner.id", primary_key=True, ondelete="CASCADE")
    revision: int = Field(default=0)
