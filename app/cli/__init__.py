"""The `stepwise` command: thin wrappers over the services (serve, db, catalogue, partners, openapi)."""

import argparse
import os
import sys
from importlib.metadata import version
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.cli import database, openapi, partners, server
from app.cli.commands import Command, add_commands
from app.cli.database import catalogue_sync, db_upgrade
from app.cli.openapi import openapi_document
from app.cli.partners import DEFAULT_SCOPES, create_partner, ensure_demo_partner, has_partners
from app.cli.server import prepare_database, serve
from app.errors import DomainError
from app.settings import Settings, configuration_problems, get_settings, unknown_variables, variable_of

__all__ = [
    "DEFAULT_SCOPES",
    "catalogue_sync",
    "create_partner",
    "db_upgrade",
    "ensure_demo_partner",
    "has_partners",
    "main",
    "openapi_document",
    "prepare_database",
    "serve",
]


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    command: Command = args.declared_command
    for line in unknown_variables(os.environ):
        print(f"stepwise: {line}", file=sys.stderr, flush=True)
    try:
        settings = get_settings()
    except ValidationError as error:
        sys.exit(f"stepwise: bad configuration: {'; '.join(configuration_problems(error))}")
    missing = _missing_sqlite_file(settings) if command.database != "none" else None
    if missing is not None and command.database != "creates":
        sys.exit(
            f"stepwise: no database at {missing} (DATABASE_URL {settings.database_url}; a relative path is "
            "relative to the current directory). Run `stepwise serve` or `stepwise db upgrade` there first, "
            "or set DATABASE_URL."
        )
    if missing is not None:
        print(f"stepwise: creating a new SQLite database at {missing}", file=sys.stderr, flush=True)
    try:
        command.run(args, settings)
    except SQLAlchemyError as error:
        sys.exit(_database_error(error))
    except DomainError as error:  # a partner not found, a bad scope or origin: said in a line each
        messages = [e.msg for e in error.errors or []] or [error.detail]
        sys.exit("\n".join(f"stepwise: {message}" for message in messages))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepwise",
        description=__doc__,
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stepwise {version('stepwise')}")
    # In the order `stepwise --help` lists them.
    add_commands(parser, server.commands, database.commands, partners.commands, openapi.commands)
    return parser


def _settings_help() -> str:
    lines = ["settings (environment variables, with their defaults):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  {variable_of(name)}={'' if field.default is None else field.default}")
    return "\n".join(lines)


def _missing_sqlite_file(settings: Settings) -> Path | None:
    """The SQLite file the URL names, if it is a file that does not exist yet."""
    url = settings.database_url
    if not url.startswith("sqlite:///") or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return None if path.exists() else path.resolve()


def _database_error(error: SQLAlchemyError) -> str:
    """One line for an operator: what failed, never the URL or its password."""
    cause = getattr(error, "orig", None) or error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"stepwise: database error ({type(cause).__name__}): {first_line}"
