"""`stepwise serve`: prepare the database, one replica at a time, and run the API. (Not `serve.py`:
`app.cli.serve` is the function.)"""

import argparse
import logging

from pythonjsonlogger.json import JsonFormatter

from app import migrate
from app.cli.commands import Commands, argument
from app.cli.database import catalogue_sync, db_upgrade
from app.cli.partners import ensure_demo_partner, has_partners
from app.settings import Settings

logger = logging.getLogger("stepwise")
commands = Commands()


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
