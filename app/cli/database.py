"""`stepwise db` and `stepwise catalogue`: migrations and the catalogue's sync, and the one
session every command stores through."""

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlmodel import Session

from app import migrate
from app.catalogue import store
from app.catalogue.content import load_content
from app.cli.commands import Commands, argument
from app.db.engines import make_engine
from app.sealing import service as sealing
from app.sealing.crypto import Unreadable
from app.settings import Settings

commands = Commands()
commands.group("db", help="database migrations")
commands.group("catalogue", help="the built-in catalogue")


@contextmanager
def transaction(settings: Settings, bind: Connection | None = None) -> Iterator[Session]:
    """A session that commits when its block ends without an error (the services only flush):
    on `bind`, joining its transaction (its owner commits), or on an engine of its own. What it
    stored stays readable after the commit, for the command to print."""
    engine = None if bind is not None else make_engine(settings.database_url, **settings.engine_options())
    try:
        with Session(bind=bind or engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    finally:
        if engine is not None:
            engine.dispose()


def db_upgrade(settings: Settings, bind: Connection | None = None) -> None:
    migrate.upgrade(settings.database_url, connection=bind)


def catalogue_sync(settings: Settings, bind: Connection | None = None) -> store.SyncReport:
    with transaction(settings, bind) as session:
        report = store.sync(session=session, catalogue=load_content())
    return report


@commands.add("db", "upgrade", help="upgrade the database to the latest migration", database="creates")
def _upgrade(args: argparse.Namespace, settings: Settings) -> None:
    with migrate.exclusive(settings.database_url) as bind:
        db_upgrade(settings, bind)
    print(f"database at migration {migrate.head_revision()}")


@commands.add(
    "db",
    "downgrade",
    help="downgrade the database to REVISION ('base': drop everything)",
    arguments=(
        argument("revision", help="the migration to go back to, e.g. 0003; 'base' empties the database"),
        argument("--yes", action="store_true", help="confirm a downgrade to 'base' (all data is lost)"),
    ),
)
def _downgrade(args: argparse.Namespace, settings: Settings) -> None:
    if args.revision == "base" and not args.yes:
        sys.exit("stepwise: a downgrade to 'base' drops every table and all data; add --yes to confirm")
    migrate.downgrade(settings.database_url, args.revision)
    print(f"database downgraded to {args.revision}")


@commands.add("catalogue", "sync", help="make the database match the content files", database="creates")
def _sync(args: argparse.Namespace, settings: Settings) -> None:
    with migrate.exclusive(settings.database_url) as bind:
        db_upgrade(settings, bind)
        print(catalogue_sync(settings, bind).summary())


@commands.add(
    "db",
    "rewrap-keys",
    help="wrap every user's key under the first STEPWISE_DATA_KEY (after a new data key is set)",
)
def _rewrap(args: argparse.Namespace, settings: Settings) -> None:
    if settings.data_key is None:
        sys.exit(
            "stepwise: set STEPWISE_DATA_KEY first: the new data key, then any older ones, comma-separated "
            "(the one the deployment made for itself is read from the database)"
        )
    engine = make_engine(settings.database_url, **settings.engine_options())
    try:
        rewrapped, total, left, forgot = sealing.rewrap(engine, settings.data_key.get_secret_value())
    except Unreadable as error:  # (the batches before it are rewrapped: running again resumes)
        sys.exit(f"stepwise: {error}; list it in STEPWISE_DATA_KEY after the new one, and run this again")
    finally:
        engine.dispose()
    print(f"{rewrapped} of {total} user keys rewrapped under the first STEPWISE_DATA_KEY")
    if left:
        sys.exit(
            f"stepwise: {left} user keys were made under an older data key meanwhile (a replica still running "
            "without the new STEPWISE_DATA_KEY?); run this again once every replica has it"
        )
    if forgot:
        print("the data key the deployment had made for itself is deleted from the database")
    print("older data keys may now leave STEPWISE_DATA_KEY (every replica's), and be destroyed")
