"""Running Alembic from code, so `stepwise` can migrate from any directory once installed."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from app.db.engines import make_engine

_PACKAGE = Path(__file__).parent

# The advisory lock every start-up takes on PostgreSQL (any number, the same in every replica).
STARTUP_LOCK = 7_316_846_273_551_120_947
# How long a start-up on SQLite waits for another's to finish (the file's write lock).
STARTUP_WAIT_MS = 120_000


def script_location() -> Path:
    shipped = _PACKAGE / "_migrations"  # inside an installed wheel
    return shipped if shipped.is_dir() else _PACKAGE.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    return config


@contextmanager
def exclusive(database_url: str) -> Iterator[Connection]:
    """One start-up at a time on a database: replicas started together on an empty database
    would otherwise interleave their migrations (Alembic plans a run's steps at its start, so a
    replica could run a step another has just run). This yields a connection in a transaction
    that holds the database's lock, and commits on leaving: migrations, the catalogue's sync and
    the demo partner run in that one transaction, and the next replica waits, then finds
    everything done.

    On PostgreSQL the lock is an advisory transaction lock, so it also works through pgbouncer's
    transaction pooling. On SQLite it is the write lock (BEGIN IMMEDIATE), waited for longer
    than a request would wait; the connection has foreign keys off, as batch migrations need
    (their table copies would otherwise cascade)."""
    postgres = database_url.startswith("postgresql")
    engine = make_engine(database_url, pool_size=1) if postgres else make_engine(database_url, foreign_keys=False)
    try:
        with engine.connect() as connection:
            if not postgres:  # before BEGIN IMMEDIATE, which then waits this long for the lock
                driver = connection.connection.driver_connection
                assert driver is not None
                driver.execute(f"PRAGMA busy_timeout={STARTUP_WAIT_MS}")
            with connection.begin():
                if postgres:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STARTUP_LOCK})
                yield connection
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head", *, connection: Connection | None = None) -> None:
    """Migrate to `revision`, on `connection` (in its transaction) when given."""
    config = alembic_config(database_url)
    if connection is not None:
        config.attributes["connection"] = connection
    command.upgrade(config, revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(script_location())).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
