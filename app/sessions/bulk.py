"""Writing many session rows at once, skipping any whose `client_session_id` is already stored
for its user, and telling which were written.

On PostgreSQL a large set of rows is COPYed (into a temporary table, moved with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING, when some may clash): several times faster than an
INSERT with thousands of bound parameters. A few rows, or SQLite, take a plain INSERT.

Column names, their order, the staging table's types and each value's COPY formatting are all
derived from `SessionRow`'s table, so a new column needs no edit here.
"""

import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Insert,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    exists,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator

from app.db.statements import DriverStatement
from app.db.types import insert_skipping_conflicts
from app.sealing.tables import UserKey
from app.sessions.tables import SessionRow
from app.webhooks import outbox

Row = dict[str, Any]
COPY_FROM_ROWS = 20
_CHUNK = 50  # rows per COPY write
T = TypeVar("T")
_TABLE: Table = SessionRow.__table__  # type: ignore[attr-defined]
_CONFLICT = ("partner_id", "user_id", "client_session_id")
# Every column but `seq`, which the database numbers in insert order.
COLUMNS = tuple(c.name for c in _TABLE.columns if c.name != "seq")
_STAGING = "create temporary table if not exists incoming_session (ord integer, {}) on commit delete rows".format(
    ", ".join(f"{c.name} {c.type.compile(dialect=postgresql.dialect())}" for c in _TABLE.columns if c.name in COLUMNS)
)
_MOVE = (
    f"insert into session_log ({', '.join(COLUMNS)}) select {', '.join(COLUMNS)} from incoming_session order by ord "
    f"on conflict ({', '.join(_CONFLICT)}) do nothing returning id"
)


@functools.cache
def _insert_returning_ids(dialect: str) -> Insert:
    # Built once per dialect: building a statement costs more than running it from the cache.
    return insert_skipping_conflicts(dialect, _TABLE, list(_CONFLICT)).returning(_TABLE.c.id)


# One POSTed session (a row's columns as parameters; returns its id, or nothing on a clash).
INSERT_ONE = DriverStatement(_insert_returning_ids, column_keys=COLUMNS)


def _insert_queuing_events(dialect: str) -> Select:
    # (Named values: a WITH clause's INSERT gets no VALUES from the compiled column keys.)
    values = {name: bindparam(name, type_=_TABLE.c[name].type) for name in COLUMNS}
    stored = insert_skipping_conflicts(dialect, _TABLE, list(_CONFLICT)).values(values)
    c = _TABLE.c
    return outbox.queued_with(stored.returning(c.id, c.partner_id, c.user_id, c.received_at))


# One POSTed session and its events, in one statement on PostgreSQL (the parameters of
# INSERT_ONE and `outbox.event_parameters`; returns its id and the deliveries queued, or nothing
# on a clash).
INSERT_ONE_QUEUING = DriverStatement(_insert_queuing_events, column_keys=COLUMNS)


def _insert_sealed(dialect: str) -> Insert:
    """INSERT_ONE's row, whose notes are sealed under the user's key as read earlier, inserted
    only if that key (`wrapped`) is still the user's, and held (FOR SHARE) until it commits:
    an erasure, which deletes the key first, waits for it and then deletes the row too."""
    key = UserKey.__table__  # type: ignore[attr-defined]
    held = exists(
        select(key.c.user_id)
        .where(
            key.c.partner_id == bindparam("partner_id", type_=Integer),
            key.c.user_id == bindparam("user_id", type_=String),
            key.c.wrapped == bindparam("wrapped", type_=String),
        )
        .with_for_update(read=True)
    )
    values = select(*(bindparam(name, type_=_TABLE.c[name].type) for name in COLUMNS)).where(held)
    return insert_skipping_conflicts(dialect, _TABLE, list(_CONFLICT)).from_select(list(COLUMNS), values)


# One POSTed session with notes sealed under a key read earlier (INSERT_ONE's parameters and the
# key as stored, `wrapped`): returns its id, or nothing on a clash or when the key is no longer
# the user's; and the same with its events (INSERT_ONE_QUEUING's parameters too).
INSERT_ONE_SEALED = DriverStatement(lambda dialect: _insert_sealed(dialect).returning(_TABLE.c.id))
INSERT_ONE_SEALED_QUEUING = DriverStatement(
    lambda dialect: outbox.queued_with(
        _insert_sealed(dialect).returning(_TABLE.c.id, _TABLE.c.partner_id, _TABLE.c.user_id, _TABLE.c.received_at)
    )
)


async def insert_sessions(
    *,
    connection: AsyncConnection,
    rows: Iterable[Row],
    expected: int,
    may_clash: bool,
    meanwhile: Callable[[list[Row]], T],
    stored: Callable[[Row], Row] = lambda row: row,
) -> tuple[list[Row], set[str], T]:
    """Insert `stored(row)` for each of `rows` (in order, so received order follows it; about
    `expected` of them). Returns the rows, the ids actually written, and `meanwhile(rows)`.
    `may_clash` False promises that no row has a `client_session_id`, so none can clash.

    **The overlap.** On PostgreSQL `rows` is consumed `_CHUNK` rows at a time and each chunk is
    COPYed as soon as it is formatted, so the database inserts one chunk while the caller's
    iterator prepares (checks) the next; `meanwhile(rows)` runs before the COPY is closed, i.e.
    while the database finishes. Measured on 500-session batches to PostgreSQL, 12 alternating
    rounds of 20 batches: chunked COPY with `meanwhile` about 1.15x checking everything first and
    COPYing once; handing rows on as they are checked another 1.09x.
    """
    if connection.dialect.name != "postgresql" or expected < COPY_FROM_ROWS:
        rows = list(rows)
        if not rows:
            return rows, set(), meanwhile(rows)
        statement = _insert_returning_ids(connection.dialect.name)
        inserted = (await connection.execute(statement, [stored(row) for row in rows])).scalars()
        return rows, set(inserted), meanwhile(rows)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection  # the psycopg AsyncConnection, in this transaction
    assert driver is not None
    async with driver.cursor() as cursor:
        if not may_clash:  # nothing can clash: straight in
            sent, result = await _copy(cursor, "session_log", rows, numbered=False, meanwhile=meanwhile, stored=stored)
            return sent, {row["id"] for row in sent}, result
        await cursor.execute(_STAGING)
        await cursor.execute("delete from incoming_session")
        sent, result = await _copy(cursor, "incoming_session", rows, numbered=True, meanwhile=meanwhile, stored=stored)
        await cursor.execute(_MOVE)
        return sent, {r[0] for r in await cursor.fetchall()}, result


async def _copy(
    cursor: Any,
    table: str,
    rows: Iterable[Row],
    *,
    numbered: bool,
    meanwhile: Callable[[list[Row]], T],
    stored: Callable[[Row], Row],
) -> tuple[list[Row], T]:
    """COPY in PostgreSQL's text format, formatted here (several times cheaper than adapting
    every value through psycopg's `write_row`), one write per `_CHUNK` rows as they come."""
    columns = ("ord", *COLUMNS) if numbered else COLUMNS
    sent: list[Row] = []
    pending = iter(rows)
    async with cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        while chunk := list(itertools.islice(pending, _CHUNK)):
            lines = [copy_line(stored(row)) for row in chunk]
            if numbered:
                lines = [f"{ordinal}\t{line}" for ordinal, line in enumerate(lines, len(sent))]
            sent += chunk
            await copy.write(("\n".join(lines) + "\n").encode())
        return sent, meanwhile(sent)  # before the COPY closes: closing waits for the database


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    """Text in COPY format: \\N for null, backslash escapes for the separators."""
    if value is None:
        return "\\N"
    # Most values (ids, slugs, short notes) hold nothing to escape; `in` is cheaper than translate.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _number(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def _boolean(value: bool) -> str:
    return "t" if value else "f"


def _json(value: Any) -> str:
    text = orjson.dumps(value).decode()  # JSON text holds no raw tab or newline; a backslash, maybe
    return text.replace("\\", "\\\\") if "\\" in text else text


def _moment(value: Any) -> str:
    return "\\N" if value is None else value.isoformat()


def _formatter(column: Column) -> Callable[[Any], str]:
    type_ = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    for kind, format_ in ((Boolean, _boolean), (Integer, _number), (JSON, _json), (DateTime, _moment)):
        if isinstance(type_, kind):
            return format_
    assert isinstance(type_, String), f"no COPY format for {column.name} ({column.type})"
    return _text


_FORMATS = [(name, _formatter(_TABLE.c[name])) for name in COLUMNS]


def copy_line(row: Row) -> str:
    """One row in COPY text format, its values in `COLUMNS` order."""
    return "\t".join([format_(row[name]) for name, format_ in _FORMATS])
