"""`stepwise serve`: prepare the database, one replica at a time, and run the API. (Not `serve.py`:
`app.cli.serve` is the function.)"""

import argparse
import logging
import sys
import time
from collections.abc import Callable

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import migrate
from app.cli.commands import Commands, argument
from app.cli.database import catalogue_sync, db_upgrade
from app.cli.partners import ensure_demo_partner, has_partners
from app.db.engines import make_engine
from app.settings import Settings

logger = logging.getLogger("stepwise")
commands = Commands()


def _configure_logging(settings: Settings) -> None:
    """Every logger (uvicorn's too) through one handler on stderr, as text or as JSON lines
    (python-json-logger; a request line carries its fields as keys)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level"},
                # uvicorn's records carry their message twice, once with terminal colours.
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


def wait_for_database(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until PostgreSQL answers (containers started together: the database may come up
    after the service), retrying with backoff for up to `db_wait_seconds`; one log line per
    retry, then one line and exit 1 if it never does. SQLite is a local file: nothing to wait for."""
    if not settings.database_url.startswith("postgresql"):
        return
    where = make_url(settings.database_url)
    name = f"{where.host or 'localhost'}:{where.port or 5432}/{where.database or ''}"
    engine = make_engine(settings.database_url, pool_size=1, connect_timeout=settings.db_connect_timeout)
    deadline = time.monotonic() + settings.db_wait_seconds
    pause = 0.5
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("select 1"))
                return
            except OperationalError as error:
                reason = _first_line(error)
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(
                        f"stepwise: the database at {name} did not answer within {settings.db_wait_seconds:g} s "
                        f"(STEPWISE_DB_WAIT_SECONDS): {reason}"
                    )
                wait = min(pause, left)
                logger.warning("database at %s not reachable yet (%s); retrying in %.1f s", name, reason, wait)
                sleep(wait)
                pause = min(pause * 2, 5.0)
    finally:
        engine.dispose()


def _first_line(error: OperationalError) -> str:
    """The driver's own reason, on one line (never the URL, so never a password)."""
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__


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
    wait_for_database(settings)
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


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


@commands.add(
    "serve",
    help="migrate, sync the catalogue and run the API",
    arguments=(
        argument("--host"),
        argument("--port", type=_port, help="default: STEPWISE_PORT (8000)"),
        argument(
            "--demo",
            action="store_true",
            help="on a database with no partner, create 'demo' with every scope and print its key "
            "(done anyway on the embedded default SQLite file)",
        ),
    ),
    database="creates",
)
def _serve(args: argparse.Namespace, settings: Settings) -> None:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    serve(settings.model_copy(update=overrides), demo=args.demo)
