"""Writing many session rows at once, skipping any whose `client_session_id` is already stored
for its user, and telling which were written.

On PostgreSQL a large set of rows is COPYed (into a temporary table, moved with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING, when some may clash): several times faster than an
INSERT with thousands of bound parameters. A few rows, or SQLite, take a plain INSERT.
"""

import itertools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson
from sqlmodel import Session

from app.db import insert_skipping_conflicts
from app.sessions.tables import SessionRow

COLUMNS = (
    "id",
    "partner_id",
    "user_id",
    "client_session_id",
    "exercise",
    "performed_at",
    "target_dose",
    "set_doses",
    "rpe",
    "pain_before",
    "pain_during",
    "pain_after",
    "pain_next_morning",
    "support_used",
    "faults",
    "red_flags",
    "duration_seconds",
    "notes",
    "received_at",
)
COPY_FROM_ROWS = 20
_CHUNK = 50
T = TypeVar("T")
_CONFLICT = ("partner_id", "user_id", "client_session_id")
_STAGING = """
create temporary table if not exists incoming_session (
    ord integer, id varchar(36), partner_id integer, user_id varchar(128), client_session_id varchar(64),
    exercise varchar(64), performed_at timestamptz, target_dose integer, set_doses json, rpe integer,
    pain_before integer, pain_during integer, pain_after integer, pain_next_morning integer,
    support_used boolean, faults json, red_flags json, duration_seconds integer, notes text, received_at timestamptz
) on commit delete rows
"""
_MOVE = f"""
insert into session_log ({", ".join(COLUMNS)})
select {", ".join(COLUMNS)} from incoming_session order by ord
on conflict ({", ".join(_CONFLICT)}) do nothing
returning id
"""


def insert_sessions(
    *,
    session: Session,
    rows: Iterable[dict[str, Any]],
    size: int,
    may_clash: bool,
    meanwhile: Callable[[list[dict[str, Any]]], T],
) -> tuple[list[dict[str, Any]], set[str], T]:
    """Insert `rows` (in order, so received order follows it; about `size` of them). Returns
    the rows, the ids actually written, and `meanwhile(rows)`, computed while PostgreSQL is
    still inserting what was sent."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or size < COPY_FROM_ROWS:
        rows = list(rows)
        if not rows:
            return rows, set(), meanwhile(rows)
        table = SessionRow.__table__
        statement = insert_skipping_conflicts(connection, table, list(_CONFLICT)).returning(table.c.id)
        return rows, set(connection.execute(statement, rows).scalars()), meanwhile(rows)
    driver = connection.connection.driver_connection  # the psycopg connection, in this transaction
    with driver.cursor() as cursor:
        if not may_clash:  # no client ids: nothing can clash, straight in
            sent, result = _copy(cursor, "session_log", rows, numbered=False, meanwhile=meanwhile)
            return sent, {row["id"] for row in sent}, result
        cursor.execute(_STAGING)
        cursor.execute("delete from incoming_session")
        sent, result = _copy(cursor, "incoming_session", rows, numbered=True, meanwhile=meanwhile)
        cursor.execute(_MOVE)
        return sent, {r[0] for r in cursor.fetchall()}, result


def _copy(
    cursor,
    table: str,
    rows: Iterable[dict[str, Any]],
    *,
    numbered: bool,
    meanwhile: Callable[[list[dict[str, Any]]], T],
) -> tuple[list[dict[str, Any]], T]:
    """COPY in PostgreSQL's text format, formatted here (several times cheaper than adapting
    every value through `write_row`) and sent in chunks: psycopg's writer thread ships each
    chunk while the next is formatted, so the database inserts while Python works."""
    columns = ("ord", *COLUMNS) if numbered else COLUMNS
    sent: list[dict[str, Any]] = []
    rows = iter(rows)
    with cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        while chunk := list(itertools.islice(rows, _CHUNK)):
            lines = [(f"{ord_}\t" if numbered else "") + _line(r) for ord_, r in enumerate(chunk, len(sent))]
            sent += chunk
            copy.write(("\n".join(lines) + "\n").encode())
        return sent, meanwhile(sent)


def _line(r: dict[str, Any]) -> str:
    """One row in COPY text format. Ids, user ids (their charset), exercise slugs, fault codes
    and numbers cannot hold a tab, newline or backslash; the free-text fields are escaped."""
    return (
        f"{r['id']}\t{r['partner_id']}\t{r['user_id']}\t{_text(r['client_session_id'])}\t{r['exercise']}\t"
        f"{r['performed_at'].isoformat()}\t{r['target_dose']}\t[{','.join(map(str, r['set_doses']))}]\t"
        f"{_number(r['rpe'])}\t{_number(r['pain_before'])}\t{r['pain_during']}\t{_number(r['pain_after'])}\t"
        f"{_number(r['pain_next_morning'])}\t{'t' if r['support_used'] else 'f'}\t"
        f"{orjson.dumps(r['faults']).decode()}\t"
        f"{orjson.dumps(r['red_flags']).decode()}\t"
        f"{_number(r['duration_seconds'])}\t{_text(r['notes'])}\t{r['received_at'].isoformat()}"
    )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    """Text in COPY format: \\N for null, backslash escapes for the separators."""
    return "\\N" if value is None else value.translate(_ESCAPES)


def _number(value: int | None) -> str:
    return "\\N" if value is None else str(value)
