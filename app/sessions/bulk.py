"""Writing many session rows at once, skipping any whose `client_session_id` is already stored
for its user, and telling which were written.

On PostgreSQL a large set of rows is COPYed (into a temporary table, moved with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING, when some may clash): several times faster than an
INSERT with thousands of bound parameters. A few rows, or SQLite, take a plain INSERT.

Column names, their order, the staging table's types and each value's COPY formatting are all
derived from `SessionRow`'s table, so a new column needs no edit here.
"""

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from app.db import insert_skipping_conflicts
from app.sessions.tables import SessionRow

Row = dict[str, Any]
COPY_FROM_ROWS = 20
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


def insert_sessions(*, session: Session, rows: list[Row], may_clash: bool) -> set[str]:
    """Insert `rows` (in order, so received order follows it); returns the ids actually written.
    `may_clash` False promises no row has a `client_session_id`, so none can clash."""
    connection = session.connection()
    if not rows:
        return set()
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        statement = insert_skipping_conflicts(connection, _TABLE, list(_CONFLICT)).returning(_TABLE.c.id)
        return set(connection.execute(statement, rows).scalars())
    driver = connection.connection.driver_connection  # the psycopg connection, in this transaction
    assert driver is not None
    with driver.cursor() as cursor:
        if not may_clash:  # nothing can clash: straight in
            _copy(cursor, "session_log", rows, numbered=False)
            return {row["id"] for row in rows}
        cursor.execute(_STAGING)
        cursor.execute("delete from incoming_session")
        _copy(cursor, "incoming_session", rows, numbered=True)
        cursor.execute(_MOVE)
        return {r[0] for r in cursor.fetchall()}


def _copy(cursor: Any, table: str, rows: list[Row], *, numbered: bool) -> None:
    """COPY in PostgreSQL's text format, formatted here: several times cheaper than adapting
    every value through psycopg's `write_row`."""
    columns = ("ord", *COLUMNS) if numbered else COLUMNS
    lines = [copy_line(row) for row in rows]
    if numbered:
        lines = [f"{ord_}\t{line}" for ord_, line in enumerate(lines)]
    with cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        copy.write(("\n".join(lines) + "\n").encode())


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: Any) -> str:
    """Text in COPY format: \\N for null, backslash escapes for the separators."""
    return "\\N" if value is None else str(value).translate(_ESCAPES)


def _number(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def _boolean(value: bool) -> str:
    return "t" if value else "f"


def _json(value: Any) -> str:
    return _text(orjson.dumps(value).decode())


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
