"""Session logs after they are stored: read one, list a user's pages, amend, erase a user.
Logging them is `app.sessions.ingest`; every query is scoped to the calling partner."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete

from app.catalogue.memory import LiveCatalogue
from app.errors import InvalidRequest
from app.idempotency.service import forget_user
from app.sessions.documents import Row, to_document
from app.sessions.queries import find_session, listing_query
from app.sessions.schemas import SessionPatch
from app.sessions.tables import SessionRow


def get_session(*, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, session_id: str) -> Row:
    row = find_session(session=session, partner_id=partner_id, user_id=user_id, session_id=session_id)
    return to_document(row, catalogue)


def list_sessions(
    *, session: Session, catalogue: LiveCatalogue, limit: int, **filters: Any
) -> tuple[list[Row], tuple[datetime, int] | None]:
    """One page of documents, newest first, and the sort key to continue after (None: last page)."""
    rows = session.execute(listing_query(limit=limit, **filters)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1].performed_at, rows[-1].seq) if more else None
    return [to_document(r, catalogue) for r in rows], last


def patch_session(
    *, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, session_id: str, patch: SessionPatch
) -> Row:
    row = find_session(session=session, partner_id=partner_id, user_id=user_id, session_id=session_id)
    if "notes" in patch.model_fields_set:
        row.notes = patch.notes
    if "pain" in patch.model_fields_set:
        if patch.pain is None:
            raise InvalidRequest("pain cannot be removed; patch pain.next_morning instead.", loc=["body", "pain"])
        if "next_morning" in patch.pain.model_fields_set:
            row.pain_next_morning = patch.pain.next_morning
    session.add(row)
    session.flush()
    return to_document(row, catalogue)


def erase_user(*, session: Session, partner_id: int, user_id: str) -> None:
    """Delete everything stored about one user of one partner, in the caller's transaction."""
    erase = delete(SessionRow).where(col(SessionRow.partner_id) == partner_id, col(SessionRow.user_id) == user_id)
    session.execute(erase)
    forget_user(session=session, partner_id=partner_id, user_id=user_id)
