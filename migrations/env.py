"""Alembic environment: the URL from the caller or settings, the metadata from app.models."""

from logging.config import fileConfig

from alembic import context

from app.db.engines import make_engine
from app.models import metadata
from app.settings import get_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
options = dict(target_metadata=metadata, render_as_batch=True, compare_type=True)


def run_migrations_offline() -> None:
    context.configure(url=url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, foreign_keys=False)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
