"""Session logs after they are stored: read one, list a user's pages, amend, erase a user.
Logging them is `app.sessions.ingest`; every query is scoped to the calling partner."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.catalogue.memory import LiveCatalogue
from app.clearances.tables import ClearanceRow
from app.errors import InvalidRequest, NotFound
from app.idempotency.service import forget_user
from app.progress.tables import OutcomeRow
from app.sealing import service as sealing
from app.sessions.documents import Row, pain_peak, to_document
from app.sessions.queries import find_session, listing_query
from app.sessions.schemas import SessionPatch
from app.sessions.tables import SessionRow
from app.webhooks import events
from app.webhooks.outbox import Subscriptions


async def get_session(
    *, connection: AsyncConnection, catalogue: LiveCatalogue, partner_id: int, user_id: str, session_id: str
) -> Row:
    row = await find_session(connection=connection, partner_id=partner_id, user_id=user_id, session_id=session_id)
    return to_document(row, catalogue)


async def list_sessions(
    *, connection: AsyncConnection, catalogue: LiveCatalogue, limit: int, **filters: Any
) -> tuple[list[Row], tuple[datetime, int] | None]:
    """One page of documents, newest first, and the sort key to continue after (None: last page)."""
    found = (await connection.execute(listing_query(limit=limit, **filters))).mappings().all()
    more = len(found) > limit
    rows = await sealing.opened(connection, filters["partner_id"], found[:limit], "notes")
    last = (rows[-1]["performed_at"], rows[-1]["seq"]) if more else None
    return [to_document(r, catalogue) for r in rows], last


async def patch_session(
    *,
    connection: AsyncConnection,
    catalogue: LiveCatalogue,
    subscriptions: Subscriptions,
    partner_id: int,
    user_id: str,
    session_id: str,
    patch: SessionPatch,
) -> Row:
    row = await find_session(connection=connection, partner_id=partner_id, user_id=user_id, session_id=session_id)
    changes: dict[str, Any] = {}
    stored: dict[str, Any] = {}  # the changes as stored: notes sealed under the user's key
    if "notes" in patch.model_fields_set:
        changes["notes"] = patch.notes
        keys = await sealing.for_writing(connection, partner_id, {user_id} if patch.notes is not None else ())
        stored["notes"] = keys.seal(user_id, patch.notes)
    if "pain" in patch.model_fields_set:
        if patch.pain is None:
            raise InvalidRequest("pain cannot be removed; patch pain.next_morning instead.", loc=["body", "pain"])
        if "next_morning" in patch.pain.model_fields_set:
            morning = patch.pain.next_morning
            changes["pain_next_morning"] = morning
            changes["pain_peak"] = pain_peak(row["pain_before"], row["pain_during"], row["pain_after"], morning)
    if changes:
        amend = (
            update(SessionRow)
            .where(
                col(SessionRow.partner_id) == partner_id,
                col(SessionRow.user_id) == user_id,
                col(SessionRow.seq) == row["seq"],
            )
            .values(**(changes | stored))
            .returning(col(SessionRow.seq))
        )
        if (await connection.execute(amend)).first() is None:  # erased since it was read
            raise NotFound(f"There is no session {session_id!r} for user {user_id!r}.")
    after = to_document(row | changes, catalogue)
    if any(row[column] != value for column, value in changes.items()):
        await events.session_patched(
            connection, subscriptions, partner_id=partner_id, before=row, after=after, catalogue=catalogue
        )
    return after


async def erase_user(
    *, connection: AsyncConnection, subscriptions: Subscriptions, partner_id: int, user_id: str
) -> None:
    """Delete everything stored about one user of one partner, in the caller's transaction (the
    webhook messages holding their data too), and queue `user.erased`. Their key goes first:
    it waits for any write still sealing under it (`app.sealing.service`)."""
    await sealing.forget(connection, partner_id, user_id)
    for table in (SessionRow, ClearanceRow, OutcomeRow):
        mine = (col(table.partner_id) == partner_id, col(table.user_id) == user_id)
        await connection.execute(delete(table).where(*mine))
    await forget_user(connection=connection, partner_id=partner_id, user_id=user_id)
    await events.user_erased(connection, subscriptions, partner_id=partner_id, user_id=user_id)
