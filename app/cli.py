"""The `stepwise` command: thin wrappers over the services (serve, db, catalogue, partners, openapi)."""

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from pydantic import ValidationError
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app import migrate
from app.background import ORIGINS_REFRESH_SECONDS
from app.catalogue import store
from app.catalogue.content import load_content
from app.db import make_engine
from app.errors import DomainError
from app.partners import service as partners
from app.partners.tables import ApiKey
from app.settings import Settings, get_settings

logger = logging.getLogger("stepwise")
# What a new partner needs to log sessions and get recommendations.
DEFAULT_SCOPES = "catalogue:read,sessions:read,sessions:write"


def _configure_logging(settings: Settings) -> None:
    """Every logger (uvicorn's too) through one handler on stderr, as text or as JSON lines
    (python-json-logger; a request line carries its fields as keys)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


@contextmanager
def _session(settings: Settings, bind: Connection | None = None) -> Iterator[Session]:
    """A session on `bind` (joining its transaction: commit then commits nothing yet) or on an
    engine of its own."""
    if bind is not None:
        with Session(bind=bind) as session:
            yield session
        return
    engine = make_engine(settings.database_url, **settings.engine_options())
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def db_upgrade(settings: Settings, bind: Connection | None = None) -> None:
    migrate.upgrade(settings.database_url, connection=bind)


def catalogue_sync(settings: Settings, bind: Connection | None = None) -> store.SyncReport:
    with _session(settings, bind) as session:
        report = store.sync(session=session, catalogue=load_content())
        session.commit()
    return report


def create_partner(
    settings: Settings, name: str, scopes: frozenset[str], rate_limit: int | None = None
) -> tuple[ApiKey, str]:
    with _session(settings) as session:
        partner = partners.create_partner(session=session, name=name)
        if rate_limit is not None:
            partners.set_rate_limit(session=session, name=name, per_minute=rate_limit)
        record, key = partners.issue_key(session=session, partner=partner, scopes=scopes)
        session.commit()
        session.refresh(record)
    return record, key


def has_partners(settings: Settings, bind: Connection | None = None) -> bool:
    with _session(settings, bind) as session:
        return partners.count_partners(session=session) > 0


def ensure_demo_partner(settings: Settings, bind: Connection | None = None) -> str | None:
    """On a database with no partner yet, create `demo` with every scope and return its key."""
    with _session(settings, bind) as session:
        if partners.count_partners(session=session):
            return None
        partner = partners.create_partner(session=session, name="demo")
        _, key = partners.issue_key(session=session, partner=partner, scopes=frozenset(partners.SCOPES))
        session.commit()
        return key


def prepare_database(settings: Settings, *, demo: bool) -> tuple[str | None, bool]:
    """Migrate, sync the catalogue and (if `demo`) make the demo partner, one replica at a time
    (`migrate.exclusive`). Returns the demo key if one was made, and whether any partner exists."""
    with migrate.exclusive(settings.database_url) as bind:
        db_upgrade(settings, bind)
        logger.info(catalogue_sync(settings, bind).summary())
        demo_key = ensure_demo_partner(settings, bind) if demo else None
        return demo_key, demo_key is not None or has_partners(settings, bind)


def serve(settings: Settings, *, demo: bool = False) -> None:
    """Migrate, sync the catalogue and run the API. A `demo` partner with every scope is made on
    an empty database only on the embedded default (the SQLite file of an unconfigured run), or
    when asked (`--demo`): never unasked on a production database, nor printed into its logs."""
    import uvicorn

    from app.edge import protocol_class
    from app.main import create_app

    _configure_logging(settings)
    embedded_default = settings.database_url == Settings.model_fields["database_url"].default
    demo_key, any_partner = prepare_database(settings, demo=demo or embedded_default)
    if not any_partner:
        print(
            "\nNo partner yet. Create one and its API key with:\n\n"
            "    stepwise partners create NAME --scopes catalogue:read,sessions:read,sessions:write\n",
            flush=True,
        )
    if demo_key:
        print(
            "\nCreated partner 'demo' with every scope. Its API key (shown only now):\n"
            f"\n    {demo_key}\n\nTry: curl -H 'Authorization: Bearer {demo_key}' "
            f"http://{settings.host}:{settings.port}/v1/progressions/lunge-ladder\n",
            flush=True,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # the service writes its own request line (app.asgi), with more in it
        log_config=None,  # uvicorn's loggers go through the handler set up above
        server_header=False,
        http=protocol_class(head_timeout=settings.head_timeout, body_timeout=settings.body_timeout),
        limit_concurrency=settings.max_connections,
    )


def openapi_document() -> str:
    from app.main import create_app

    return json.dumps(create_app(Settings(database_url="sqlite://")).openapi(), indent=2, ensure_ascii=False) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepwise",
        description=__doc__,
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stepwise {version('stepwise')}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="migrate, sync the catalogue and run the API")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=_port, help="default: STEPWISE_PORT (8000)")
    serve_cmd.add_argument(
        "--demo",
        action="store_true",
        help="on a database with no partner, create 'demo' with every scope and print its key "
        "(done anyway on the embedded default SQLite file)",
    )

    db = commands.add_parser("db", help="database migrations").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="upgrade the database to the latest migration")
    db_down = db.add_parser("downgrade", help="downgrade the database to REVISION ('base': drop everything)")
    db_down.add_argument("revision", help="the migration to go back to, e.g. 0003; 'base' empties the database")
    db_down.add_argument("--yes", action="store_true", help="confirm a downgrade to 'base' (all data is lost)")

    cat = commands.add_parser("catalogue", help="the built-in catalogue").add_subparsers(dest="action", required=True)
    cat.add_parser("sync", help="make the database match the content files")

    part = commands.add_parser("partners", help="partners and API keys").add_subparsers(dest="action", required=True)
    create = part.add_parser("create", help="create a partner and print its first API key on the last line")
    create.add_argument("name")
    create.add_argument("--scopes", default=DEFAULT_SCOPES, help="comma-separated: " + ",".join(partners.SCOPES))
    create.add_argument(
        "--rate-limit", type=int, metavar="N", help="requests per minute for this partner (default: the service's)"
    )
    quota = part.add_parser("set-rate-limit", help="set a partner's requests per minute ('default': the service's)")
    quota.add_argument("name")
    quota.add_argument("per_minute", metavar="N|default")
    revoke = part.add_parser("revoke", help="revoke a key by id, prefix (first 11 characters) or whole key")
    revoke.add_argument("key")
    part.add_parser("list", help="list partners, their quotas, keys (prefixes only) and allowed origins")
    origins = part.add_parser(
        "origins", help="the browser origins a partner's frontends call from (CORS); lists them when given no change"
    )
    origins.add_argument("name")
    origins.add_argument(
        "--add", action="append", default=[], metavar="ORIGIN", help="allow an origin: scheme://host[:port], no path"
    )
    origins.add_argument("--remove", action="append", default=[], metavar="ORIGIN", help="stop allowing an origin")
    keys = part.add_parser("keys", help="a partner's keys: add one (rotation), revoke one").add_subparsers(
        dest="keys_action", required=True
    )
    add = keys.add_parser("add", help="issue another key for a partner (the old one keeps working until revoked)")
    add.add_argument("name")
    add.add_argument("--scopes", default=DEFAULT_SCOPES, help="comma-separated: " + ",".join(partners.SCOPES))
    keys_revoke = keys.add_parser("revoke", help="revoke a key by id, prefix (first 11 characters) or whole key")
    keys_revoke.add_argument("key")

    out = commands.add_parser("openapi", help="print the OpenAPI document (or write it to a file)")
    out.add_argument("--write", type=Path, metavar="PATH")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def _settings_help() -> str:
    lines = ["settings (environment variables, with their defaults):"]
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None)
        variable = aliases[0] if aliases else f"STEPWISE_{name.upper()}"
        lines.append(f"  {variable}={'' if field.default is None else field.default}")
    return "\n".join(lines)


_CREATES_THE_DATABASE = {("serve", None), ("db", "upgrade"), ("catalogue", "sync")}


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


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        sys.exit(f"stepwise: bad configuration: {problems}")
    command = (args.command, getattr(args, "action", None) if args.command != "serve" else None)
    missing = _missing_sqlite_file(settings) if args.command != "openapi" else None
    if missing is not None and command not in _CREATES_THE_DATABASE:
        sys.exit(
            f"stepwise: no database at {missing} (DATABASE_URL {settings.database_url}; a relative path is "
            "relative to the current directory). Run `stepwise serve` or `stepwise db upgrade` there first, "
            "or set DATABASE_URL."
        )
    if missing is not None:
        print(f"stepwise: creating a new SQLite database at {missing}", file=sys.stderr, flush=True)
    try:
        _run(args, settings)
    except SQLAlchemyError as error:
        sys.exit(_database_error(error))
    except DomainError as error:  # a partner not found, a bad scope or origin: said in a line each
        messages = [e.msg for e in error.errors or []] or [error.detail]
        sys.exit("\n".join(f"stepwise: {message}" for message in messages))


def _run(args: argparse.Namespace, settings: Settings) -> None:
    match args.command, getattr(args, "action", None):
        case "serve", _:
            overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
            serve(settings.model_copy(update=overrides), demo=args.demo)
        case "db", "upgrade":
            with migrate.exclusive(settings.database_url) as bind:
                db_upgrade(settings, bind)
            print(f"database at migration {migrate.head_revision()}")
        case "db", "downgrade":
            if args.revision == "base" and not args.yes:
                sys.exit("stepwise: a downgrade to 'base' drops every table and all data; add --yes to confirm")
            migrate.downgrade(settings.database_url, args.revision)
            print(f"database downgraded to {args.revision}")
        case "catalogue", "sync":
            with migrate.exclusive(settings.database_url) as bind:
                db_upgrade(settings, bind)
                print(catalogue_sync(settings, bind).summary())
        case "partners", "create":
            scopes = partners.parse_scopes(args.scopes)
            record, key = create_partner(settings, args.name, scopes, args.rate_limit)
            print(f"partner {args.name!r}: key id {record.id}, prefix {record.prefix}, scopes {record.scopes}")
            print(key)
        case "partners", "set-rate-limit":
            if args.per_minute != "default" and not args.per_minute.isdigit():
                sys.exit("stepwise: give a whole number of requests per minute, or 'default'")
            per_minute = None if args.per_minute == "default" else int(args.per_minute)
            with _session(settings) as session:
                partners.set_rate_limit(session=session, name=args.name, per_minute=per_minute)
                session.commit()
            shown = f"{per_minute} requests per minute" if per_minute else "the service's default"
            print(f"partner {args.name!r}: {shown} (in effect within {settings.key_cache_seconds:g} s)")
        case "partners", "revoke":
            _revoke(settings, args.key)
        case "partners", "list":
            with _session(settings) as session:
                for partner, keys in partners.list_partners(session=session):
                    quota = partner.rate_limit_per_minute or f"default ({settings.rate_limit_per_minute})"
                    print(
                        f"{partner.name}  (id {partner.id}, since {partner.created_at:%Y-%m-%d}, {quota} requests/min)"
                    )
                    for record in keys:
                        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
                        print(f"    key id {record.id}  {record.prefix}...  {record.scopes}  {state}")
                    for origin in partners.origins_of(session=session, partner_id=partner.id or 0):
                        print(f"    origin {origin}")
        case "partners", "origins":
            with _session(settings) as session:
                now = partners.change_origins(session=session, name=args.name, add=args.add, remove=args.remove)
                session.commit()
            shown = ", ".join(now) if now else "none (browsers get no CORS headers for it)"
            print(f"partner {args.name!r} allows the origins: {shown} (in effect within {ORIGINS_REFRESH_SECONDS:g} s)")
        case "partners", "keys" if args.keys_action == "add":
            with _session(settings) as session:
                partner = partners.find_partner(session=session, name=args.name)
                scopes = partners.parse_scopes(args.scopes)
                record, key = partners.issue_key(session=session, partner=partner, scopes=scopes)
                session.commit()
                print(f"partner {args.name!r}: new key id {record.id}, prefix {record.prefix}, scopes {record.scopes}")
                print(key)
        case "partners", "keys":
            _revoke(settings, args.key)
        case "openapi", _:
            document = openapi_document()
            if args.write:
                args.write.write_text(document, encoding="utf-8")
            else:
                sys.stdout.write(document)


def _revoke(settings: Settings, key: str) -> None:
    with _session(settings) as session:
        record = partners.revoke_key(session=session, key_prefix_or_id=key)
        session.commit()
        within = f"{settings.key_cache_seconds:g} s"
        print(f"revoked key id {record.id} ({record.prefix}); every replica refuses it within {within}")
