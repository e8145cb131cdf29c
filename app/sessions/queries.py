"""Reading session rows: one session, a user's keyset pages, and what the rules read for a ladder.
Every query is scoped to one partner; another partner's users simply do not exist here."""

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db import DriverStatement, UTCDateTime
from app.errors import NotFound
from app.sessions.documents import Row
from app.sessions.tables import SessionRow

_NEWEST_FIRST = (col(SessionRow.performed_at).desc(), col(SessionRow.seq).desc())


async def find_session(*, connection: AsyncConnection, partner_id: int, user_id: str, session_id: str) -> Row:
    """The stored row (its columns by name), or NotFound."""
    result = await connection.execute(
        select(SessionRow).where(
            col(SessionRow.partner_id) == partner_id,
            col(SessionRow.user_id) == user_id,
            col(SessionRow.id) == session_id,
        )
    )
    row = result.mappings().first()
    if row is None:
        raise NotFound(f"There is no session {session_id!r} for user {user_id!r}.")
    return dict(row)


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


def latest_for_ladder_query(
    *, partner_id: int, user_id: str, progression: str, exercises: list[str], as_of: datetime, limit: int
) -> tuple[DriverStatement, dict[str, Any]]:
    """What the rules read, newest first: the user's latest `limit` sessions of the ladder
    `progression` (of any of its `exercises`, naming that ladder or none) up to `as_of`, and
    their latest session of any exercise (red flags on it pause every ladder).

    One small index range scan per exercise (ix_session_log_user_exercise_time) and one over
    the user's history (ix_session_log_user_time), merged: the cost depends on `limit` and the
    number of exercises, not on the length of the history.

    Returns the statement and its parameters, to run as they are: the statement is the same
    object for every call with the same ladder shape, compiled once (building a seven-way UNION
    and computing its cache key cost more than running it), and run at the driver level on
    PostgreSQL (a recommendation's hot path).
    """
    parameters = {"partner_id": partner_id, "user_id": user_id, "as_of": as_of, "progression": progression}
    return _latest_for_ladder(tuple(exercises), limit), parameters


@functools.lru_cache(maxsize=64)
def _latest_for_ladder(exercises: tuple[str, ...], limit: int) -> DriverStatement:
    # Built once per ladder shape (building a seven-way UNION costs more than running it).
    partner_id, user_id = bindparam("partner_id", type_=Integer), bindparam("user_id", type_=String)
    as_of = bindparam("as_of", type_=UTCDateTime)
    mine = (
        col(SessionRow.partner_id) == partner_id,
        col(SessionRow.user_id) == user_id,
        col(SessionRow.performed_at) <= as_of,
    )
    progression = bindparam("progression", type_=String)
    of_the_ladder = or_(col(SessionRow.progression).is_(None), col(SessionRow.progression) == progression)
    branches = [
        select(col(SessionRow.seq))
        .where(*mine, col(SessionRow.exercise) == exercise, of_the_ladder)
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
        for exercise in exercises
    ]
    branches.append(select(col(SessionRow.seq)).where(*mine).order_by(*_NEWEST_FIRST).limit(1))
    seqs = union_all(*(branch.subquery().select() for branch in branches)).subquery()
    # The latest of all comes first; if it is not a ladder session, `limit` ladder ones follow.
    return DriverStatement(
        select(SessionRow).where(col(SessionRow.seq).in_(select(seqs.c.seq))).order_by(*_NEWEST_FIRST).limit(limit + 1)
    )
