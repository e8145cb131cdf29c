"""Running Alembic from code, so `stepwise` can migrate from any directory once installed."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from app.db import make_engine

_PACKAGE = Path(__file__).parent

# The advisory lock every start-up takes on PostgreSQL (any number, the same in every replica).
STARTUP_LOCK = 7_316_846_273_551_120_947


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
def exclusive(database_url: str) -> Iterator[Connection | None]:
    """One start-up at a time on a database: replicas started together on an empty PostgreSQL
    would otherwise all run the first migration. On PostgreSQL this yields a connection in a
    transaction that holds an advisory lock, and commits on leaving; the lock is a transaction
    lock, so it also works through pgbouncer's transaction pooling. Migrations, the catalogue's
    sync and the demo partner run in that one transaction: the next replica waits, then finds
    everything done. On SQLite it yields None: each step's write transaction takes the
    database's write lock first (BEGIN IMMEDIATE), which already makes writers take turns."""
    if not database_url.startswith("postgresql"):
        yield None
        return
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
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
