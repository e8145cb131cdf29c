"""Every migration upgrades and downgrades on both databases, and matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db import make_engine
from app.models import metadata


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_round_trip(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)
    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)
    engine = make_engine(url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_migrations_match_the_models(empty_database_url):
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_rebuilding_a_table_keeps_the_rows_that_refer_to_it(empty_database_url):
    """Downgrading 0003 rebuilds `progression` on SQLite; its steps must survive."""
    from sqlalchemy import text
    from sqlmodel import Session

    from app.catalogue import store
    from app.catalogue.content import load_content

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        store.sync(session=session, catalogue=load_content())
        session.commit()
    migrate.downgrade(empty_database_url, "0002")
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from progression_step")).scalar_one() == 6
    engine.dispose()
