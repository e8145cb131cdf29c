"""Database engines: async for requests, sync for the command line and start-up; PostgreSQL's
fixed pools and generic plans, SQLite's pragmas and write lock."""

import logging
from typing import Any, TypedDict

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

# Statements' parameters hold health data and key hashes: never in logs. SQLAlchemy's errors
# leave them out (`hide_parameters` on every engine); aiosqlite logs them at DEBUG.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)

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
    # Deleted rows are overwritten with zeros, not left in free pages: an erasure erases.
    cursor.execute("PRAGMA secure_delete=ON")
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


# After an erasure on SQLite: the write-ahead log copied into the database file (where deleted
# rows are zeroed: `secure_delete`) and truncated, so the log no longer holds them either. Run
# outside any transaction; pages a reader still needs stay in the log until the next checkpoint.
WAL_CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"


def checkpoint(engine: Engine) -> None:
    """`WAL_CHECKPOINT` on a SQLite engine; nothing on PostgreSQL (see docs/deployment.md)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute(WAL_CHECKPOINT)  # type: ignore[union-attr]
    finally:
        raw.close()
