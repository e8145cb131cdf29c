"""Database engines (async for requests, sync for the command line and start-up) and the one
transaction runner; nothing domain-specific."""

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict, TypeVar

import anyio
import orjson
import psycopg
from sqlalchemy import ClauseElement, DateTime, Engine, Executable, Insert, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection, StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel, create_engine

# Statements' parameters hold health data and key hashes: never in logs. SQLAlchemy's errors
# leave them out (`hide_parameters` on every engine); aiosqlite logs them at DEBUG.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)
logger = logging.getLogger("stepwise")

# Predictable constraint names, so migrations can drop and alter them on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and read back timezone-aware on both databases
    (SQLite keeps no offset, so values are normalised to naive UTC on the way in)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_skipping_conflicts(dialect: str, table: Any, conflict_columns: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (columns) DO NOTHING, in the SQL of `dialect` (its name)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


# Defaults of the `STEPWISE_DB_*_TIMEOUT` settings, in seconds.
CONNECT_TIMEOUT_SECONDS = 5.0
POOL_TIMEOUT_SECONDS = 5.0
STATEMENT_TIMEOUT_SECONDS = 5.0
# How long a statement alone waits, past its deadline, for the server to confirm its cancellation.
CANCEL_GRACE_SECONDS = 1.0


class EngineOptions(TypedDict):
    """What `make_engine` and `make_async_engine` take from the settings."""

    prepared_statements: bool
    connect_timeout: float
    pool_timeout: float


def make_engine(
    url: str,
    *,
    pool_size: int = 20,
    foreign_keys: bool = True,
    prepared_statements: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> Engine:
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool if memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas if foreign_keys else _sqlite_pragmas_for_migrations)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # For the command line, migrations, the catalogue's load and the periodic jobs; requests use
    # `make_async_engine`. A fixed pool, no overflow (see there).
    return create_engine(
        url, pool_pre_ping=True, **_postgres_pool(pool_size, prepared_statements, connect_timeout, pool_timeout)
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event start transactions (see below), not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_pragmas_for_migrations(dbapi_connection, record) -> None:
    # Batch migrations rebuild a table by copy, drop and rename; with foreign keys enforced the
    # drop would cascade into the rows that refer to it.
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _sqlite_begin_immediate(connection) -> None:
    """Take SQLite's write lock at the start of a transaction, so concurrent writers queue up
    (busy_timeout) instead of failing when a read transaction tries to become a write."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


T = TypeVar("T")


# The request path's prepared statements are planned once per connection, not on every run.
# PostgreSQL's default (`auto`) keeps planning anew while a plan for the values at hand looks
# cheaper than the generic one; for the recommendation's LATERAL read, whose values never change
# its best plan (index range scans), that planning took longer than running it (about 1 ms
# against 0.4 ms). Every statement the service prepares reads or writes by index
# (tests/test_session_indexes.py checks the generic plans of the session reads).
GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"


def make_async_engine(
    url: str,
    *,
    pool_size: int = 20,
    prepared_statements: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """The request path's engine: psycopg 3 async on PostgreSQL, aiosqlite on SQLite, so no
    request holds a thread while it waits for the database. A fixed pool with no overflow
    (overflow connections are closed on return and reopened under load, and each PostgreSQL
    login costs milliseconds of CPU) and no pre-ping (a round trip on every checkout)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://", 1), hide_parameters=True, **_JSON)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    pool = _postgres_pool(pool_size, prepared_statements, connect_timeout, pool_timeout)
    if prepared_statements:  # after any `options` the URL gives
        given = make_url(url).query.get("options")
        pool["connect_args"]["options"] = f"{given} {GENERIC_PLANS}" if isinstance(given, str) else GENERIC_PLANS
    return create_async_engine(url, pool_reset_on_return=None, **pool, **_JSON)


def _postgres_pool(
    pool_size: int, prepared_statements: bool, connect_timeout: float, pool_timeout: float
) -> dict[str, Any]:
    """What both PostgreSQL engines share: a fixed pool, the timeouts, and no parameters in errors."""
    # A host that takes the TCP connection and never answers must not hang a start or a request
    # (libpq takes whole seconds, at least 2).
    connect_args: dict[str, Any] = {"connect_timeout": max(2, round(connect_timeout))}
    if not prepared_statements:
        connect_args["prepare_threshold"] = None
    return {
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_timeout": pool_timeout,
        "connect_args": connect_args,
        "hide_parameters": True,
    }


def _to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


# JSON columns (set doses, faults, red flags) through orjson, several times the standard library.
_JSON: dict[str, Any] = {"json_serializer": _to_json, "json_deserializer": orjson.loads}


class DriverStatement:
    """A Core statement that hot paths run on the driver's own connection on PostgreSQL.

    Compiled once per dialect. Its parameters and rows go through its types' own processors,
    as SQLAlchemy would process them (JSON through orjson, timestamps read back in UTC); the
    psycopg connection then executes the compiled SQL (prepared by psycopg after a few runs).
    SQLAlchemy's own work per execution costs about as much as the driver's: its execution
    context, cursor wrapper, result metadata and greenlet hops. On SQLite it runs through
    SQLAlchemy like any statement, where the file's I/O outweighs that work.

    `statement` is the statement, or builds it from a dialect's name (an upsert's SQL differs).
    """

    def __init__(
        self, statement: Executable | Callable[[str], Executable], *, column_keys: Sequence[str] | None = None
    ) -> None:
        self._build = statement if callable(statement) else lambda _dialect: statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._statements: dict[str, Executable] = {}
        self._compiled: dict[int, _Compiled] = {}

    def statement(self, dialect: str) -> Executable:
        """The Core statement for the dialect named `dialect`."""
        if dialect not in self._statements:
            self._statements[dialect] = self._build(dialect)
        return self._statements[dialect]

    async def rows(self, connection: AsyncConnection, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows it returns (every row, as a dict by column name), run in `connection`'s
        transaction. A connection lost, or cut off mid-statement (a deadline's cancellation), is
        invalidated, as SQLAlchemy invalidates its own: closing the transaction then tries no
        ROLLBACK on it, and the deadline's TimeoutError is what the caller sees."""
        dialect = connection.dialect
        if dialect.name != "postgresql":
            found = await connection.execute(self.statement(dialect.name), parameters)
            return [dict(row) for row in found.mappings()] if found.returns_rows else []
        try:
            return await self.run(await connection.get_raw_connection(), dialect, parameters)
        except DBAPIError as error:
            if error.connection_invalidated:
                with anyio.CancelScope(shield=True):
                    await connection.invalidate(error.orig)
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection.invalidate()
            raise

    async def run(
        self, raw: PoolProxiedConnection, dialect: Dialect, parameters: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Run on `raw`, a pooled psycopg connection. A driver error becomes SQLAlchemy's
        (parameters hidden), `connection_invalidated` when the connection was found closed or
        broken; what to do with the connection is the caller's."""
        compiled = self._compiled.get(id(dialect)) or self._compile(dialect)
        values = compiled.fixed | parameters
        for name, process in compiled.binds:
            values[name] = process(values[name])
        driver = raw.driver_connection
        assert driver is not None
        try:
            async with psycopg.AsyncRawCursor(driver) as cursor:
                await cursor.execute(compiled.sql, [values[name] for name in compiled.order])
                found = await cursor.fetchall() if compiled.names else []  # (`description` costs more than the rows)
        except psycopg.Error as error:
            raise DBAPIError.instance(
                compiled.sql,
                values,
                error,
                psycopg.Error,
                hide_parameters=True,
                connection_invalidated=dialect.is_disconnect(error, raw.dbapi_connection, None),  # type: ignore[arg-type]
                dialect=dialect,
            ) from None
        names, processes = compiled.names, compiled.results
        rows = [dict(zip(names, row, strict=True)) for row in found]
        for row in rows if processes else ():
            for name, process in processes:
                row[name] = process(row[name])
        return rows

    def _compile(self, dialect: Dialect) -> "_Compiled":
        statement = self.statement(dialect.name)
        assert isinstance(statement, ClauseElement)  # a SELECT, or an INSERT ... RETURNING
        compiled = statement.compile(dialect=dialect, column_keys=self._column_keys)
        assert isinstance(compiled, SQLCompiler)
        binds = [(name, compiled.binds[name]) for name in compiled.params]  # by the names in the SQL
        columns = getattr(statement, "exported_columns", ())  # a SELECT's, or what it RETURNs
        order: list[str] = []

        def numbered(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:  # an escaped percent sign
                return "%"
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        sql = _PLACEHOLDER.sub(numbered, str(compiled))
        # An expanding IN, or a name the pattern missed, would reach the server as written.
        assert "%(" not in sql and "POSTCOMPILE" not in sql, f"a placeholder left in {sql!r}"
        found = _Compiled(
            # Numbered placeholders, sent as they are (psycopg's raw cursor): psycopg otherwise
            # parses a statement's `%(name)s` placeholders on every run of one over 4 KiB, as the
            # recommendation's read is (a tenth of that route's time).
            sql=sql,
            order=order,
            # The values the statement itself holds (a LIMIT), under the names it compiled to.
            fixed={name: bind.effective_value for name, bind in binds if not bind.required},
            binds=[(name, p) for name, b in binds if (p := b.type._cached_bind_processor(dialect)) is not None],
            names=[c.name for c in columns],
            results=[(c.name, p) for c in columns if (p := c.type._cached_result_processor(dialect, None)) is not None],
        )
        self._compiled[id(dialect)] = found
        return found


_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    order: list[str]  # the parameters' names, in the order of their numbers in `sql`
    fixed: dict[str, Any]
    binds: list[tuple[str, Callable[[Any], Any]]]
    names: list[str]
    results: list[tuple[str, Callable[[Any], Any]]]


class Statements(Protocol):
    """Where a service runs its driver statements: alone (`Transaction.statement`), or in a
    transaction under way (`InTransaction`)."""

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class InTransaction:
    """Driver statements run in `connection`'s transaction (which commits them)."""

    connection: AsyncConnection

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        return await statement.rows(self.connection, parameters)


class Transaction:
    """Runs one unit of work in one database transaction: connect, run, commit (roll back on
    error), all before the response is sent, so a 2xx always means "committed". `work` is an
    async service function taking `connection=` and keyword arguments."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = STATEMENT_TIMEOUT_SECONDS) -> None:
        self.engine = engine
        self._dialect = engine.dialect  # (a property lookup through the async proxy, on every hot statement)
        postgres = self._dialect.name == "postgresql"
        # A PostgreSQL server that stops answering (frozen, partitioned, overloaded) fails the
        # work after `timeout` seconds of it, counted from the connection's checkout (the pool
        # wait has its own timeout). anyio's cancellation is delivered again while psycopg tries
        # to cancel the statement on the server, so psycopg closes the connection at once
        # instead of waiting 10 s on a server that does not answer; the pool replaces it. A
        # client-side deadline, because a server-side `statement_timeout` cannot fire on a
        # server that is not running. SQLite is a local file: its own lock wait (busy_timeout,
        # 5 s) is its timeout.
        self._timeout = timeout if postgres else math.inf
        # On PostgreSQL one statement needs no BEGIN and COMMIT: two round trips of three.
        # (SQLite keeps its transaction: its "begin" hook takes the lock a read needs.)
        self._one_statement = engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else None
        self._cancels: set[asyncio.Task[None]] = set()

    async def __call__(self, work: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        async with self.engine.connect() as connection, connection.begin() as transaction:
            with anyio.fail_after(self._timeout):
                result = await work(connection=connection, **arguments)
            # The COMMIT has a deadline of its own, not what is left of the work's: cut off by
            # that one, a COMMIT already on its way could still land after the client was told
            # 503. A COMMIT that itself outlasts the timeout (a server frozen at that moment)
            # leaves the outcome unknown, as any timeout must: the 503 then means "retry with the
            # same Idempotency-Key", which answers from the stored result if it did commit.
            with anyio.fail_after(self._timeout, shield=True):
                await transaction.commit()
            return result

    async def autocommit(self, work: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        """Run `work` outside any explicit transaction on PostgreSQL: each statement commits by
        itself, and answers only once committed. For work that reads, or writes with one
        statement (then, read on: a clash's row), where BEGIN and COMMIT would be two more
        round trips; SQLite runs it in a transaction as usual."""
        if self._one_statement is None:
            return await self(work, **arguments)
        async with self._one_statement.connect() as connection:
            with anyio.fail_after(self._timeout):
                return await work(connection=connection, **arguments)

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one statement by itself, committed before it answers, on a pooled psycopg
        connection (none of SQLAlchemy's connection and execution layers: about half a hot
        path's database CPU); on SQLite in a transaction as usual.

        On PostgreSQL it runs in autocommit mode: one round trip, no BEGIN and COMMIT. Its
        deadline asks the server to cancel it rather than walking away: a client that stops
        waiting cannot tell whether a write it sent was stored, but a statement cancelled on the
        server was not, and one that completed anyway was. So past the deadline it is a
        TimeoutError only once the server confirms the cancellation; if it completed instead, it
        answers as usual. A server that answers neither within the grace (frozen, or gone) cuts
        it off there, the outcome unknown, as with any COMMIT that a deadline cuts off.

        A connection found lost makes the pool replace every connection (as SQLAlchemy does: a
        restarted server has dropped them all); one left in any other doubtful state (an error,
        a cancellation) is replaced at its next checkout."""
        if self._one_statement is None:
            return await self(statement.rows, parameters=parameters)
        raw = await self.engine.raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        deadline = _ServerDeadline(driver, self._timeout, self._cancels)
        try:
            await driver.set_autocommit(True)
            with deadline, anyio.fail_after(self._timeout + CANCEL_GRACE_SECONDS):
                found = await statement.run(raw, self._dialect, parameters)
            if deadline.passed:
                raw.invalidate(soft=True)  # its cancel request may still be on its way
            else:
                await driver.set_autocommit(False)  # as the pool lends it to SQLAlchemy
            return found
        except DBAPIError as error:
            raw.invalidate(soft=True)
            if error.connection_invalidated:
                await self.engine.dispose()  # the idle ones closed, the others dropped as they come back
            if deadline.passed and isinstance(error.orig, psycopg.errors.QueryCanceled):
                raise TimeoutError("the statement was cancelled on the server at its deadline") from error
            raise
        except BaseException:
            raw.invalidate(soft=True)
            raise
        finally:
            raw.close()  # back to the pool


class _ServerDeadline:
    """Within it, `seconds` after it was entered, asks the server to cancel what `driver` is
    running: a timer, not a task, until then (a few microseconds). The cancel request runs as a
    task of its own, held in `tasks` until done, since the event loop keeps only weak
    references to tasks. `passed` tells afterwards whether it was sent."""

    __slots__ = ("_driver", "_seconds", "_tasks", "_timer", "passed")

    def __init__(self, driver: psycopg.AsyncConnection, seconds: float, tasks: set[asyncio.Task[None]]) -> None:
        self._driver, self._seconds, self._tasks, self.passed = driver, seconds, tasks, False

    def __enter__(self) -> "_ServerDeadline":
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._cancel)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def _cancel(self) -> None:
        self.passed = True
        task = asyncio.ensure_future(_cancel_on_server(self._driver))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _cancel_on_server(driver: psycopg.AsyncConnection) -> None:
    try:
        await driver.cancel_safe(timeout=CANCEL_GRACE_SECONDS)
    except Exception as error:  # the statement's own wait reports what follows
        logger.warning("could not ask the database to cancel a statement past its deadline: %s", type(error).__name__)
