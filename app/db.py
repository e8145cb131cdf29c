"""Database engines (async for requests, sync for the command line and start-up) and the one
transaction runner; nothing domain-specific."""

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar

import anyio
import orjson
from sqlalchemy import DateTime, Engine, Insert, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel, create_engine

# Statements' parameters hold health data and key hashes: never in logs. SQLAlchemy's errors
# leave them out (`hide_parameters` on every engine); aiosqlite logs them at DEBUG.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)

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
    return create_async_engine(
        url,
        pool_reset_on_return=None,
        **_postgres_pool(pool_size, prepared_statements, connect_timeout, pool_timeout),
        **_JSON,
    )


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


class Transaction:
    """Runs one unit of work in one database transaction: connect, run, commit (roll back on
    error), all before the response is sent, so a 2xx always means "committed". `work` is an
    async service function taking `connection=` and keyword arguments."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = STATEMENT_TIMEOUT_SECONDS) -> None:
        self.engine = engine
        # A PostgreSQL server that stops answering (frozen, partitioned, overloaded) fails the
        # work after `timeout` seconds of it, counted from the connection's checkout (the pool
        # wait has its own timeout). anyio's cancellation is delivered again while psycopg tries
        # to cancel the statement on the server, so psycopg closes the connection at once
        # instead of waiting 10 s on a server that does not answer; the pool replaces it. A
        # client-side deadline, because a server-side `statement_timeout` cannot fire on a
        # server that is not running. SQLite is a local file: its own lock wait (busy_timeout,
        # 5 s) is its timeout.
        self._timeout = timeout if engine.dialect.name == "postgresql" else math.inf
        # On PostgreSQL a read of one statement needs no BEGIN and COMMIT: two round trips of
        # three. (SQLite keeps its transaction: its "begin" hook takes the lock a read needs.)
        postgres = engine.dialect.name == "postgresql"
        self._one_statement = engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else None

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

    async def read(self, work: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        """Run `work` that only reads, with one SELECT, outside any explicit transaction."""
        if self._one_statement is None:
            return await self(work, **arguments)
        async with self._one_statement.connect() as connection:
            with anyio.fail_after(self._timeout):
                return await work(connection=connection, **arguments)
