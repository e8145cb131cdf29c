"""Reading session rows: one session, and a user's keyset pages.
Every query is scoped to one partner; another partner's users simply do not exist here."""

from datetime import datetime

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db.rows import user_row
from app.db.statements import DriverStatement
from app.sealing import service as sealing
from app.sessions.documents import Row
from app.sessions.tables import SessionRow

_NEWEST_FIRST = (col(SessionRow.performed_at).desc(), col(SessionRow.seq).desc())


async def find_session(*, connection: AsyncConnection, partner_id: int, user_id: str, session_id: str) -> Row:
    """The stored row (its columns by name, its notes opened), or NotFound."""
    row = await user_row(
        connection, SessionRow, partner_id=partner_id, user_id=user_id, row_id=session_id, what="session"
    )
    return (await sealing.opened(connection, partner_id, [row], "notes"))[0]


# The session a user's `client_session_id` names (parameters: partner_id, user_id, client_session_id).
CLIENT_SESSION = DriverStatement(
    select(SessionRow).where(
        col(SessionRow.partner_id) == bindparam("partner_id", type_=Integer),
        col(SessionRow.user_id) == bindparam("user_id", type_=String),
        col(SessionRow.client_session_id) == bindparam("client_session_id", type_=String),
    )
)


def listing_query(
    *,
    partner_id: int,
    user_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    exercise: str | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 20,
) -> Select:
    """Newest first by (performed_at, received order), one keyset page (plus one row to tell
    whether another page follows); served by ix_session_log_user_time."""
    query = select(SessionRow).where(col(SessionRow.partner_id) == partner_id, col(SessionRow.user_id) == user_id)
    if since is not None:
        query = query.where(col(SessionRow.performed_at) >= since)
    if until is not None:
        query = query.where(col(SessionRow.performed_at) < until)
    if exercise is not None:
        query = query.where(col(SessionRow.exercise) == exercise)
    if after is not None:
        query = query.where(tuple_(col(SessionRow.performed_at), col(SessionRow.seq)) < tuple_(*after))
    return query.order_by(*_NEWEST_FIRST).limit(limit + 1)
