"""Reading session rows: one session, a user's keyset pages, and what the rules read for a ladder.
Every query is scoped to one partner; another partner's users simply do not exist here."""

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import distinct_on
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


# What the rules read of a session (app.sessions.documents.performance, and which session it is).
RULES_READ = (
    col(SessionRow.seq),
    col(SessionRow.id),
    col(SessionRow.exercise),
    col(SessionRow.progression),
    col(SessionRow.performed_at),
    col(SessionRow.target_dose),
    col(SessionRow.set_doses),
    col(SessionRow.rpe),
    col(SessionRow.pain_before),
    col(SessionRow.pain_during),
    col(SessionRow.pain_after),
    col(SessionRow.pain_next_morning),
    col(SessionRow.support_used),
    col(SessionRow.faults),
    col(SessionRow.red_flags),
)


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
    object for every call with the same `limit` (on SQLite, the same ladder shape), compiled
    once, and run at the driver level on PostgreSQL (a recommendation's hot path).
    """
    parameters = {"partner_id": partner_id, "user_id": user_id, "as_of": as_of, "progression": progression}
    # The exercises as one text parameter (slugs hold no comma): a list costs psycopg several
    # times more to send than a string.
    return _latest_for_ladder(tuple(exercises), limit), parameters | {"exercises": ",".join(exercises)}


@functools.lru_cache(maxsize=64)
def _latest_for_ladder(exercises: tuple[str, ...], limit: int) -> DriverStatement:
    # Built once per ladder shape (building a seven-way UNION costs more than running it).
    if any("," in exercise for exercise in exercises):  # sent joined by commas (slugs hold none)
        raise ValueError(f"an exercise slug with a comma: {exercises!r}")
    return DriverStatement(functools.partial(_latest_for_ladder_in, exercises=exercises, limit=limit))


def _latest_for_ladder_in(dialect: str, *, exercises: tuple[str, ...], limit: int) -> Select:
    # The limits are written into the SQL: as parameters, PostgreSQL's generic plan for the
    # prepared statement could not count on them, so it planned every run anew (about 1 ms).
    partner_id, user_id = bindparam("partner_id", type_=Integer), bindparam("user_id", type_=String)
    as_of = bindparam("as_of", type_=UTCDateTime)
    mine = (
        col(SessionRow.partner_id) == partner_id,
        col(SessionRow.user_id) == user_id,
        col(SessionRow.performed_at) <= as_of,
    )
    progression = bindparam("progression", type_=String)
    of_the_ladder = or_(col(SessionRow.progression).is_(None), col(SessionRow.progression) == progression)
    latest_of_all = select(*RULES_READ).where(*mine).order_by(*_NEWEST_FIRST).limit(literal_column("1"))
    # The latest of all comes first; if it is not a ladder session, `limit` ladder ones follow.
    if dialect == "postgresql":
        # The exercises as one parameter, each one's latest sessions found by a LATERAL
        # join, and the rows themselves kept (the latest of all, also found as its exercise's,
        # once: DISTINCT ON). One statement for every ladder, short enough for psycopg to keep
        # its parsing (queries over 4 KiB are parsed on every run: 100 µs for the UNION of a
        # branch per exercise this replaced).
        listed = func.string_to_array(bindparam("exercises", type_=String), literal_column("','"))
        steps = func.unnest(listed).table_valued("exercise")
        steps = steps.render_derived(name="step")
        of_step = select(*RULES_READ).where(*mine, col(SessionRow.exercise) == steps.c.exercise, of_the_ladder)
        latest = of_step.order_by(*_NEWEST_FIRST).limit(literal_column(str(limit))).lateral("latest")
        of_each_step = select(latest).select_from(steps).join(latest, true())
        found = union_all(of_each_step, latest_of_all).subquery("found")
        newest_first = (found.c.performed_at.desc(), found.c.seq.desc())
        kept_once = distinct_on(found.c.performed_at, found.c.seq)
        return select(found).ext(kept_once).order_by(*newest_first).limit(literal_column(str(limit + 1)))
    branches = [
        select(col(SessionRow.seq))
        .where(*mine, col(SessionRow.exercise) == exercise, of_the_ladder)
        .order_by(*_NEWEST_FIRST)
        .limit(literal_column(str(limit)))
        for exercise in exercises
    ]
    branches.append(latest_of_all.with_only_columns(col(SessionRow.seq)))
    seqs = union_all(*(branch.subquery().select() for branch in branches)).subquery()
    found_again = select(*RULES_READ).where(col(SessionRow.seq).in_(select(seqs.c.seq)))
    return found_again.order_by(*_NEWEST_FIRST).limit(literal_column(str(limit + 1)))
