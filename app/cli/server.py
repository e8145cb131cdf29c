"""`stepwise serve`: prepare the database, one replica at a time, and run the API. (Not `serve.py`:
`app.cli.serve` is the function.)"""

import argparse
import glob
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import migrate
from app.cli.commands import Commands, argument
from app.cli.database import catalogue_sync, db_upgrade
from app.cli.partners import ensure_demo_partner, has_partners
from app.db.engines import make_engine
from app.logs import configure_logging
from app.settings import Settings

logger = logging.getLogger("stepwise")
commands = Commands()


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

    configure_logging(settings)
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
    # Each worker reads its settings from the environment, as this process did.
    os.environ["STEPWISE_WORKERS"] = str(settings.workers)
    with _metrics_directory(settings.workers):
        uvicorn.run(
            "app.worker:create_app",  # by name: how uvicorn starts the workers, each importing it
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,  # the service writes its own request line (app.asgi), with more in it
            log_config=None,  # uvicorn's loggers go through the handler set up above
            server_header=False,
            http="app.worker:HttpTools",
            limit_concurrency=settings.max_connections,
            # X-Forwarded-For is read only from the proxies named, none by default (uvicorn's own
            # default trusts 127.0.0.1, which would let any local client pick its address).
            proxy_headers=bool(settings.forwarded_allow_ips),
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """With several workers, the directory where each writes its metrics for any worker's scrape
    (prometheus_client's multiprocess mode): `PROMETHEUS_MULTIPROC_DIR` if set (emptied first,
    as a new run must start from zero), else a temporary one, removed at the end."""
    if workers == 1:
        yield
        return
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        yield
        return
    with tempfile.TemporaryDirectory(prefix="stepwise-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (1-64)")
    return int(text)


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
            "--workers",
            type=_workers,
            help="processes serving on the one port, one per core at most (default: STEPWISE_WORKERS, 1)",
        ),
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
    given = (("host", args.host), ("port", args.port), ("workers", args.workers))
    overrides = {name: value for name, value in given if value is not None}
    serve(settings.model_copy(update=overrides), demo=args.demo)
