"""The session table is the one source of its column list: what the ingest writes, what COPY
sends and what a document shows are tied to it here, and text survives COPY's escaping."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from app.db.engines import make_async_engine
from app.partners.tables import Partner
from app.sessions import bulk
from app.sessions.documents import content_of, row_values, to_document
from app.sessions.schemas import SessionIn, SessionOut
from app.sessions.tables import SessionRow
from tests.factories import session_body

TABLE_COLUMNS = [column.name for column in SessionRow.__table__.columns]  # type: ignore[attr-defined]
# Text that COPY's text format must escape: its separators, its escape and its null marker.
AWKWARD_TEXTS = ["tab\there", "two\nlines", "carriage\rreturn", "back\\slash", "\\N", "\\", "", "ünïcödé ✓"]


def _row(partner_id: int, user_id: str, notes: str | None, client_session_id: str | None) -> dict:
    # Leg symptoms on the rows with notes: their columns go through COPY too, null or not.
    legs = {"before": "none", "after": "below_knee"} if notes else ...
    body = SessionIn.model_validate(session_body(notes=notes, client_session_id=client_session_id, leg_symptoms=legs))
    return row_values(
        session_id=uuid.uuid4().hex, partner_id=partner_id, user_id=user_id, body=body, received_at=datetime.now(UTC)
    )


def test_a_new_row_fills_every_column_but_the_database_numbered_seq():
    row = _row(1, "u1", "x", None)
    assert list(row) != [] and set(row) == set(TABLE_COLUMNS) - {"seq"}
    assert bulk.COLUMNS == tuple(name for name in TABLE_COLUMNS if name != "seq")


def test_a_body_fills_every_content_column():
    body = SessionIn.model_validate(session_body())
    owned = {"seq", "id", "partner_id", "user_id", "received_at"}
    assert set(content_of(body)) == set(TABLE_COLUMNS) - owned


def test_a_document_has_exactly_the_contracts_fields(app):
    document = to_document(_row(1, "u1", "x", "c1"), app.state.catalogue)
    assert list(document) == list(SessionOut.model_fields)
    SessionOut.model_validate(document)


def test_a_copy_line_has_one_field_per_column_and_escapes_separators():
    for notes in AWKWARD_TEXTS:
        line = bulk.copy_line(_row(1, "u1", notes, None))
        assert "\n" not in line and "\r" not in line
        assert line.count("\t") == len(bulk.COLUMNS) - 1


@pytest.mark.parametrize("may_clash", [False, True], ids=["straight-copy", "staged-copy"])
def test_awkward_text_survives_a_bulk_insert_unchanged(database_url, may_clash):
    """Enough rows for PostgreSQL's COPY path (plain INSERT on SQLite), with notes holding every
    character COPY escapes, read back exactly as written; a NULL stays NULL, `\\N` stays text."""
    asyncio.run(_bulk_insert_round_trip(database_url, may_clash))


async def _bulk_insert_round_trip(database_url: str, may_clash: bool) -> None:
    engine = make_async_engine(database_url)
    user_id = f"copy-{uuid.uuid4().hex[:8]}"
    async with engine.connect() as connection:
        partner_id = (
            await connection.execute(
                insert(Partner)
                .values(name=f"copy-{uuid.uuid4().hex[:8]}", created_at=datetime.now(UTC))
                .returning(Partner.id)
            )
        ).scalar_one()
        notes = [*AWKWARD_TEXTS, None] * 3
        rows = [_row(partner_id, user_id, note, f"c{i}" if may_clash else None) for i, note in enumerate(notes)]
        assert len(rows) >= bulk.COPY_FROM_ROWS
        sent, inserted, documents = await bulk.insert_sessions(
            connection=connection, rows=iter(rows), expected=len(rows), may_clash=may_clash, meanwhile=len
        )
        assert sent == rows and documents == len(rows)
        assert inserted == {row["id"] for row in rows}
        stored = (await connection.execute(select(SessionRow).where(SessionRow.user_id == user_id))).mappings().all()
        by_id = {row["id"]: row for row in stored}
        for row in rows:
            assert {name: by_id[row["id"]][name] for name in row} == row
        if may_clash:  # the same client ids again: nothing more is written
            again = [_row(partner_id, user_id, "other", f"c{i}") for i in range(len(rows))]
            _, inserted_again, _ = await bulk.insert_sessions(
                connection=connection, rows=again, expected=len(again), may_clash=True, meanwhile=len
            )
            assert inserted_again == set()
        await connection.rollback()
    await engine.dispose()
