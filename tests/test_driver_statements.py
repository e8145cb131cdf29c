"""Driver statements (`app.db.DriverStatement`): the hot paths' statements, run on the psycopg
connection itself on PostgreSQL (through SQLAlchemy on SQLite), must read and write exactly
what SQLAlchemy would, fail as it would, and hand the pool's connections back as they were
lent."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import Float, String, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db.engines import make_async_engine
from app.db.statements import DriverStatement
from app.db.transactions import InTransaction, Transaction
from app.sessions.bulk import INSERT_ONE
from app.sessions.queries import CLIENT_SESSION
from app.sessions.tables import SessionRow

PARTNER_ID = 990_001  # a partner of this module's own in the shared database


def _row(session_id: str, **changes) -> dict:
    return {
        "id": session_id,
        "partner_id": PARTNER_ID,
        "user_id": "driver-user",
        "client_session_id": f"client-{session_id}",
        "exercise": "reverse-lunge",
        "progression": None,
        # Not in UTC: it must be stored as the same moment and read back in UTC.
        "performed_at": datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        "target_dose": 8,
        "set_doses": [8, 8, 7],
        "rpe": 6,
        "pain_before": 1,
        "pain_during": 2,
        "pain_after": None,
        "pain_next_morning": None,
        "support_used": True,
        "faults": ["knee-caves-in"],
        "red_flags": [],
        "leg_symptoms_before": "none",
        "leg_symptoms_after": None,
        "pain_peak": 2,
        "duration_seconds": None,
        "notes": 'tab\there, a "quote", a backslash \\ and é',
        "received_at": datetime(2026, 11, 2, 7, 31, tzinfo=UTC),
    } | changes


@pytest.fixture
def postgres_url(backend, database_url) -> str:
    if backend != "postgres":
        pytest.skip("the pool's connections are lent to driver statements on PostgreSQL only")
    return database_url


def _run(work):
    return asyncio.run(work())


_PARTNER = text(
    "insert into partner (id, name, created_at) values (:id, 'driver-tests', current_timestamp) on conflict do nothing"
)


async def _partner(transaction: Transaction) -> None:
    async with transaction.engine.begin() as connection:
        await connection.execute(_PARTNER, {"id": PARTNER_ID})


def test_a_row_written_and_read_at_the_driver_level_is_what_sqlalchemy_reads(backend, database_url):
    async def work():
        transaction = Transaction(make_async_engine(database_url))
        await _partner(transaction)
        written = _row("driver-1")
        assert await transaction.statement(INSERT_ONE, written) == [{"id": "driver-1"}]
        parameters = {"partner_id": PARTNER_ID, "user_id": "driver-user", "client_session_id": "client-driver-1"}
        (read,) = await transaction.statement(CLIENT_SESSION, parameters)
        async with transaction.engine.connect() as connection:
            core = CLIENT_SESSION.statement(connection.dialect.name)
            (expected,) = (await connection.execute(core, parameters)).mappings().all()
        await transaction.engine.dispose()
        return written, read, dict(expected)

    written, read, expected = _run(work)
    assert read == expected
    assert read["performed_at"] == written["performed_at"] and read["performed_at"].tzinfo == UTC
    assert {k: read[k] for k in ("set_doses", "faults", "red_flags", "notes", "support_used")} == {
        k: written[k] for k in ("set_doses", "faults", "red_flags", "notes", "support_used")
    }
    assert set(read) == {c.name for c in SessionRow.__table__.columns}  # type: ignore[attr-defined]


def test_a_clashing_insert_returns_no_row_and_stores_nothing_more(backend, database_url):
    async def work():
        transaction = Transaction(make_async_engine(database_url))
        await _partner(transaction)
        first = await transaction.statement(INSERT_ONE, _row("driver-2"))
        again = await transaction.statement(INSERT_ONE, _row("driver-3", client_session_id="client-driver-2"))
        async with transaction.engine.connect() as connection:
            count = (
                await connection.execute(text("select count(*) from session_log where id in ('driver-2', 'driver-3')"))
            ).scalar()
        await transaction.engine.dispose()
        return first, again, count

    assert _run(work) == ([{"id": "driver-2"}], [], 1)


def test_a_statement_alone_hands_its_connection_back_transactional(postgres_url):
    """Run alone it commits by itself (autocommit); the pool's next borrower still gets a
    connection whose statements wait for its COMMIT."""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url, pool_size=1))
        await _partner(transaction)
        await transaction.statement(INSERT_ONE, _row("driver-4"))
        async with transaction.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            autocommit = raw.driver_connection.autocommit
            await connection.execute(text("delete from session_log where id = 'driver-4'"))
            await connection.rollback()
        found = await transaction.statement(
            CLIENT_SESSION, {"partner_id": PARTNER_ID, "user_id": "driver-user", "client_session_id": "client-driver-4"}
        )
        await transaction.engine.dispose()
        return autocommit, [r["id"] for r in found]

    assert _run(work) == (False, ["driver-4"])


def test_a_refused_statement_fails_as_sqlalchemy_fails_and_its_connection_is_replaced(postgres_url):
    """A foreign key the database refuses: SQLAlchemy's IntegrityError with the parameters
    hidden (health data), and the connection it ran on is not lent again (it may have been
    left in any state)."""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url, pool_size=1))
        await _partner(transaction)
        pid = "select pg_backend_pid() as pid"
        before = await transaction.autocommit(lambda connection: _scalar(connection, pid))
        with pytest.raises(IntegrityError) as refused:
            await transaction.statement(INSERT_ONE, _row("driver-5", partner_id=999_999))
        after = await transaction.autocommit(lambda connection: _scalar(connection, pid))
        await transaction.engine.dispose()
        return refused.value, before, after

    refused, before, after = _run(work)
    assert isinstance(refused, DBAPIError) and refused.hide_parameters
    # The parameters stay out (the database's own DETAIL may quote a key, as under SQLAlchemy:
    # the service logs such errors by type and SQLSTATE only).
    assert "driver-5" not in str(refused) and "parameters hidden" in str(refused)
    assert before != after


def test_a_statement_in_a_transaction_is_rolled_back_with_it(backend, database_url):
    async def work():
        transaction = Transaction(make_async_engine(database_url))
        await _partner(transaction)

        async def insert_then_fail(*, connection):
            await InTransaction(connection).statement(INSERT_ONE, _row("driver-6"))
            raise RuntimeError("the work fails after its insert")

        with pytest.raises(RuntimeError):
            await transaction(insert_then_fail)
        found = await transaction.statement(
            CLIENT_SESSION, {"partner_id": PARTNER_ID, "user_id": "driver-user", "client_session_id": "client-driver-6"}
        )
        await transaction.engine.dispose()
        return found

    assert _run(work) == []


async def _scalar(connection, sql: str):
    return (await connection.execute(text(sql))).scalar()


def test_a_statement_is_compiled_once_per_dialect(postgres_url, monkeypatch):
    statement = DriverStatement(CLIENT_SESSION.statement("postgresql"))
    compiled = []
    compile_it = DriverStatement._compile

    def counting(self, dialect):
        compiled.append(dialect.name)
        return compile_it(self, dialect)

    monkeypatch.setattr(DriverStatement, "_compile", counting)

    async def work():
        transaction = Transaction(make_async_engine(postgres_url))
        parameters = {"partner_id": PARTNER_ID, "user_id": "nobody", "client_session_id": "none"}
        for _ in range(3):
            assert await transaction.statement(statement, parameters) == []
        await transaction.engine.dispose()

    _run(work)
    assert compiled == ["postgresql"]


_SLEEP = DriverStatement(select(func.pg_sleep(bindparam("seconds", type_=Float)).label("slept")))


def test_a_deadline_in_a_transaction_is_a_timeout_and_its_connection_is_dropped(postgres_url):
    """Cut off mid-statement inside a transaction: the caller sees the deadline's TimeoutError
    (not a failed ROLLBACK on the connection psycopg closed), and the pool lends a new one."""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url, pool_size=1), timeout=0.3)
        pid = "select pg_backend_pid() as pid"
        before = await transaction.autocommit(lambda connection: _scalar(connection, pid))

        async def sleep(*, connection):
            return await InTransaction(connection).statement(_SLEEP, {"seconds": 3})

        with pytest.raises(TimeoutError):
            await transaction(sleep)
        after = await transaction.autocommit(lambda connection: _scalar(connection, pid))
        await transaction.engine.dispose()
        return before, after

    before, after = _run(work)
    assert before != after


def test_a_write_cut_off_by_its_deadline_is_cancelled_on_the_server_and_not_stored(postgres_url):
    """A lone write held up (by a lock) past its deadline: cancelled on the server, which then
    confirms it (the TimeoutError's cause), so nothing is stored once the lock is gone and a
    retry stores it once. Only walking away from it, it would still land after the lock."""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url), timeout=0.5)
        await _partner(transaction)
        async with transaction.engine.connect() as blocker:
            await blocker.execute(text("select id from partner where id = :id for update"), {"id": PARTNER_ID})
            with pytest.raises(TimeoutError) as cut_off:
                await transaction.statement(INSERT_ONE, _row("driver-8", client_session_id=None))
            await asyncio.sleep(0.3)
            await blocker.commit()
        await asyncio.sleep(0.3)
        async with transaction.engine.connect() as connection:
            stored = (await connection.execute(text("select count(*) from session_log where id = 'driver-8'"))).scalar()
        stored_now = await transaction.statement(INSERT_ONE, _row("driver-9", client_session_id=None))
        await transaction.engine.dispose()
        return stored, stored_now, cut_off.value.__cause__

    stored, stored_now, cause = _run(work)
    assert (stored, stored_now) == (0, [{"id": "driver-9"}])
    assert isinstance(cause, DBAPIError) and isinstance(cause.orig, psycopg.errors.QueryCanceled)


def test_a_statement_that_completes_while_being_cancelled_answers_as_usual(postgres_url):
    """Past its deadline, a statement the server finishes before the cancellation reaches it
    was stored: it answers its rows, not a TimeoutError. (The cancel request is held back here
    until the statement is done: on a busy server the two race.)"""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url, pool_size=1), timeout=0.2)
        await _partner(transaction)
        real_cancel = psycopg.AsyncConnection.cancel_safe
        finished = asyncio.Event()

        async def late_cancel(self, **kwargs):
            await finished.wait()
            await real_cancel(self, **kwargs)

        statement = DriverStatement(
            select(func.pg_sleep(0.6).label("slept"), bindparam("id", type_=String).label("id"))
        )
        pid = "select pg_backend_pid() as pid"
        before = await transaction.autocommit(lambda connection: _scalar(connection, pid))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.AsyncConnection, "cancel_safe", late_cancel)
            try:
                found = await transaction.statement(statement, {"id": "late"})
            finally:
                finished.set()
            await asyncio.sleep(0.1)
        after = await transaction.autocommit(lambda connection: _scalar(connection, pid))
        await transaction.engine.dispose()
        return found, before != after

    found, replaced = _run(work)
    assert found[0]["id"] == "late"
    assert replaced  # the connection a cancel request was sent for is not lent again


def test_connections_lost_to_a_restart_fail_one_request_not_each(postgres_url):
    """Every server connection dropped (a restart, a failover): the first statement that finds
    its connection gone fails (a 503), and the pool replaces the others instead of lending each
    to fail in turn."""

    async def work():
        transaction = Transaction(make_async_engine(postgres_url, pool_size=3))
        await _partner(transaction)
        parameters = {"partner_id": PARTNER_ID, "user_id": "nobody", "client_session_id": "none"}
        await asyncio.gather(*(transaction.statement(_SLEEP, {"seconds": 0.2}) for _ in range(3)))  # 3 open
        async with make_async_engine(postgres_url).connect() as admin:
            ended = await admin.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'"
                )
            )
            assert len(ended.all()) >= 3
            await admin.commit()
        await asyncio.sleep(0.2)
        failures = 0
        for _ in range(4):
            try:
                await transaction.statement(CLIENT_SESSION, parameters)
            except DBAPIError as lost:
                assert lost.connection_invalidated
                failures += 1
        await transaction.engine.dispose()
        return failures

    assert _run(work) == 1
