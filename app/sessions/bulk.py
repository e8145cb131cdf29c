"""Writing many session rows at once, skipping any whose `client_session_id` is already stored
for its user, and telling which were written.

On PostgreSQL a large set of rows is COPYed (into a temporary table, moved with one
INSERT ... SELECT ... ON CONFLICT DO NOTHING, when some may clash): several times faster than an
INSERT with thousands of bound parameters. A few rows, or SQLite, take a plain INSERT.
"""

from typing import Any

from psycopg.types.json import Json
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.sessions.tables import SessionRow

COLUMNS = (
    "id", "partner_id", "user_id", "client_session_id", "exercise", "performed_at", "target_dose", "set_doses",
    "rpe", "pain_before", "pain_during", "pain_after", "pain_next_morning", "support_used", "faults",
    "duration_seconds", "notes", "received_at",
)
_JSON_COLUMNS = {"set_doses", "faults"}
COPY_FROM_ROWS = 20
_CONFLICT = ("partner_id", "user_id", "client_session_id")
_STAGING = f"""
create temporary table if not exists incoming_session (
    ord integer, id varchar(36), partner_id integer, user_id varchar(128), client_session_id varchar(64),
    exercise varchar(64), performed_at timestamptz, target_dose integer, set_doses json, rpe integer,
    pain_before integer, pain_during integer, pain_after integer, pain_next_morning integer,
    support_used boolean, faults json, duration_seconds integer, notes text, received_at timestamptz
) on commit delete rows
"""
_MOVE = f"""
insert into session_log ({", ".join(COLUMNS)})
select {", ".join(COLUMNS)} from incoming_session order by ord
on conflict ({", ".join(_CONFLICT)}) do nothing
returning id
"""


def insert_sessions(*, session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert `rows` (in order, so received order follows it); returns the ids written."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        table = SessionRow.__table__
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(_CONFLICT)).returning(table.c.id)
        return set(connection.execute(statement, rows).scalars())
    driver = connection.connection.driver_connection  # the psycopg connection, in this transaction
    with driver.cursor() as cursor:
        if all(row["client_session_id"] is None for row in rows):  # nothing can clash: straight in
            _copy(cursor, "session_log", rows, numbered=False)
            return {row["id"] for row in rows}
        cursor.execute(_STAGING)
        cursor.execute("delete from incoming_session")
        _copy(cursor, "incoming_session", rows, numbered=True)
        cursor.execute(_MOVE)
        return {r[0] for r in cursor.fetchall()}


def _copy(cursor, table: str, rows: list[dict[str, Any]], *, numbered: bool) -> None:
    columns = ("ord", *COLUMNS) if numbered else COLUMNS
    with cursor.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for ord_, row in enumerate(rows):
            values = (Json(row[c]) if c in _JSON_COLUMNS else row[c] for c in COLUMNS)
            copy.write_row((ord_, *values) if numbered else tuple(values))
