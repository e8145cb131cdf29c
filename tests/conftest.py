"""Fixtures: every test that needs a database runs once on SQLite and once on PostgreSQL.

PostgreSQL comes from STEPWISE_TEST_POSTGRES_URL (default: the local cluster); each run makes
fresh databases and drops them afterwards. Without a reachable server the PostgreSQL half is
skipped, and said so at the end of the run; with CI=true it fails instead.

Modules marked `through_pgbouncer` run a third time: on the same PostgreSQL, through a
pgbouncer in transaction pooling mode that the suite starts (Debian's `pgbouncer`).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import migrate
from app.catalogue import store
from app.catalogue.content import load_content
from app.db.engines import make_engine
from app.errors import DomainError
from app.frontdoor import FrontDoor
from app.main import StepwiseAPI, create_app, fast_lanes
from app.partners import service as partners
from app.partners.tables import Partner
from app.settings import Settings
from tests import pgbouncer as pgbouncer_server
from tests import servers

POSTGRES_URL = os.environ.get(
    "STEPWISE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_postgres_problem: list[str] = []


def _postgres_admin():
    url = Settings(database_url=POSTGRES_URL).database_url
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}), url


def _postgres_reachable() -> str | None:
    if _postgres_problem:
        return _postgres_problem[0]
    try:
        engine, _ = _postgres_admin()
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:  # any failure to connect means "not available"
        _postgres_problem.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
        return _postgres_problem[0]
    return None


class Databases:
    """Makes empty databases of one backend and removes them at the end of the run (through
    pgbouncer: made on PostgreSQL directly, their URLs on pgbouncer's port)."""

    def __init__(self, backend: str, tmp: Path, pgbouncer_port: int | None = None) -> None:
        self.backend, self.tmp, self.made = backend, tmp, []
        self.pgbouncer_port = pgbouncer_port

    def new(self) -> str:
        name = f"stepwise_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / name}.db"
        engine, url = _postgres_admin()
        with engine.connect() as connection:
            connection.execute(text(f'create database "{name}"'))
        engine.dispose()
        self.made.append(name)
        made = make_url(url).set(database=name)
        if self.pgbouncer_port is not None:
            made = made.set(host="127.0.0.1", port=self.pgbouncer_port)
        return made.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.made:
            return
        engine, _ = _postgres_admin()
        with engine.connect() as connection:
            for name in self.made:
                connection.execute(text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "through_pgbouncer: also run through pgbouncer (transaction pooling)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")
    config.addinivalue_line("markers", "quick: the first check, under a minute (`pytest -m quick`)")


# `pytest -m quick`: the contract's core on SQLite in about half a minute, for a first check
# before the whole run (which starts servers, browsers, Redis and PostgreSQL).
QUICK = (
    "tests/test_sessions.py",
    "tests/test_recommendations.py",
    "tests/test_catalogue_api.py",
    "tests/test_clearances.py",
    "tests/test_outcomes.py",
    "tests/test_user_tokens.py",
)


# The longest tests (a minute or more each on this machine type), handed to the workers first:
# started last, any one of them would be the run's tail.
LONGEST_FIRST = (
    "tests/test_schemathesis.py",
    "tests/test_packaging.py::test_installed_package_serves",
    "tests/test_code_quality.py::test_mypy",
    "tests/test_generated_clients.py",
    "tests/test_crash.py",
)


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # stable: the rest keep their order
    for item in items:
        if item.nodeid.startswith(QUICK) and "[postgres" not in item.nodeid and "[pgbouncer" not in item.nodeid:
            item.add_marker(pytest.mark.quick)


def pytest_generate_tests(metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite", "postgres"]
        if metafunc.definition.get_closest_marker("through_pgbouncer"):
            backends.append("pgbouncer")
        metafunc.parametrize("backend", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request) -> str:
    if request.param in ("postgres", "pgbouncer"):
        problem = _postgres_reachable()
        if problem:
            if IN_CI:
                pytest.fail(f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {problem}")
            pytest.skip(f"PostgreSQL not reachable ({problem})")
    if request.param == "pgbouncer" and not pgbouncer_server.binary():
        if IN_CI:
            pytest.fail("CI=true but pgbouncer is not installed")
        pytest.skip("pgbouncer not installed")
    return request.param


@pytest.fixture(scope="session")
def pgbouncer(tmp_path_factory) -> Iterator[int]:
    """A pgbouncer in transaction pooling mode in front of the test PostgreSQL; yields its port."""
    directory = Path(tempfile.mkdtemp(prefix="stepwise-pgbouncer-"))
    process, port = pgbouncer_server.start(make_url(Settings(database_url=POSTGRES_URL).database_url), directory)
    yield port
    process.terminate()
    process.wait(timeout=10)
    log = (directory / "pgbouncer.log").read_text()
    shutil.rmtree(directory, ignore_errors=True)
    assert "login attempt" in log, "no client connected through pgbouncer"


@pytest.fixture(scope="session")
def databases(backend, tmp_path_factory, request) -> Iterator[Databases]:
    bouncer = request.getfixturevalue("pgbouncer") if backend == "pgbouncer" else None
    made = Databases(backend, tmp_path_factory.mktemp(backend), pgbouncer_port=bouncer)
    yield made
    made.drop_all()


@pytest.fixture
def empty_database_url(databases) -> str:
    """A brand-new database with no tables, for tests that migrate or sync it themselves."""
    return databases.new()


@pytest.fixture(scope="session")
def database_url(databases) -> str:
    """The shared database of this backend: migrated to head with the built-in catalogue synced."""
    url = databases.new()
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        store.sync(session=session, catalogue=load_content())
        session.commit()
    engine.dispose()
    return url


def settings_for(backend: str, database_url: str, **settings) -> Settings:
    """The service's settings on `database_url`: behind pgbouncer 1.18 (transaction pooling),
    server-side prepared statements must be off."""
    return Settings(database_url=database_url, db_prepared_statements=backend != "pgbouncer", **settings)


def deployed(backend: str, url: str, partner: str, scopes: str, **settings) -> tuple[StepwiseAPI, dict[str, str]]:
    """A new deployment on the empty database `url` (migrated, the catalogue synced), its app
    (not started) and the Authorization header of a new partner's key with `scopes`."""
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        store.sync(session=session, catalogue=load_content())
        made = partners.create_partner(session=session, name=partner)
        _, key = partners.issue_key(session=session, partner=made, scopes=partners.parse_scopes(scopes))
        session.commit()
    engine.dispose()
    return create_app(settings_for(backend, url, **settings)), {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def app(database_url, backend):
    # One app serves the whole run, whose tests send thousands of requests (and many refused
    # keys) from one address: rate limits are tested on apps of their own (test_rate_limits).
    settings = settings_for(
        backend,
        database_url,
        key_cache_seconds=1.0,
        rate_limit_per_minute=10_000_000,
        auth_failures_per_minute=1_000_000,
    )
    return create_app(settings)


@pytest.fixture
def fresh_partners(app) -> Iterator[None]:
    """Partners belong to one test: deleting them deletes their keys, sessions and answers."""
    yield
    with Session(app.state.engine) as session:
        session.execute(delete(Partner))
        session.commit()


@pytest.fixture
def client(app, fresh_partners) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hot(app, monkeypatch) -> list[tuple[str, str, int]]:
    """What the fast lanes answered, in order (route, method, status)."""
    answered: list[tuple[str, str, int]] = []
    paths = {context.endpoint: context.path for context in iter_route_contexts(app.router.routes)}

    def recording(endpoint, lane):
        async def record(state, access, params, scope, receive, send):
            try:
                status, receive = await lane(state, access, params, scope, receive, send)
            except DomainError as refused:  # answered by the front door, as the route's handlers would
                answered.append((paths[endpoint], scope["method"], refused.status))
                raise
            if status is not None:
                answered.append((paths[endpoint], scope["method"], status))
            return status, receive

        return record

    lanes = {endpoint: recording(endpoint, lane) for endpoint, lane in fast_lanes().items()}
    monkeypatch.setattr(app, "front_door", FrontDoor(app, lanes))
    return answered


@pytest.fixture
def make_key(app, fresh_partners) -> Callable[..., str]:
    """Create a partner with a key through the partner service; returns the key."""

    def make(scopes: str = "catalogue:read", name: str | None = None) -> str:
        with Session(app.state.engine) as session:
            partner = partners.create_partner(session=session, name=name or f"partner-{uuid.uuid4().hex[:8]}")
            _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(scopes))
            session.commit()
        return key

    return make


@pytest.fixture
def auth(make_key) -> Callable[..., dict[str, str]]:
    def headers(scopes: str = "catalogue:read") -> dict[str, str]:
        return {"Authorization": f"Bearer {make_key(scopes)}"}

    return headers


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m app ARGS` against a database, as an operator would from a shell."""

    def run(database_url: str, *args: str) -> subprocess.CompletedProcess:
        env = os.environ | {"DATABASE_URL": database_url}
        return subprocess.run(
            [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
        )

    return run


def _postgres_skipped(terminalreporter) -> str | None:
    """Why the PostgreSQL half was skipped, if it was: found here, or (run on several workers,
    pytest-xdist) in the skips the workers reported."""
    if _postgres_problem:
        return _postgres_problem[0]
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "PostgreSQL not reachable (" in reason:
            return reason.split("PostgreSQL not reachable (", 1)[1].rstrip(")")
    return None


@pytest.hookimpl(trylast=True)
def backends_run(reports) -> list[str]:
    """The backends some passing test ran on: the databases by the tests' parameters, Redis and
    Chromium by the tests that need them (the `uses_redis` property, the `browser` marker)."""
    ran = set()
    for report in reports:
        keywords = report.keywords
        for name, parameter in (("sqlite", "[sqlite"), ("postgresql", "[postgres"), ("pgbouncer", "[pgbouncer")):
            if parameter in report.nodeid:
                ran.add(name)
        if ("uses", "redis") in report.user_properties:
            ran.add("redis")
        if "browser" in keywords:
            ran.add("chromium")
    order = ["sqlite", "postgresql", "pgbouncer", "redis", "chromium"]
    return [name for name in order if name in ran]


def pytest_terminal_summary(terminalreporter) -> None:
    passed = [r for r in terminalreporter.stats.get("passed", []) if r.when == "call"]
    ran = backends_run(passed)
    terminalreporter.write_line(f"backends: {', '.join(ran) or 'none'}", bold=True)
    problem = _postgres_skipped(terminalreporter)
    if problem:
        terminalreporter.write_line(
            f"PostgreSQL half NOT run: {problem}. Only SQLite was tested; start PostgreSQL "
            "or set STEPWISE_TEST_POSTGRES_URL to run both.",
            yellow=True,
            bold=True,
        )


@pytest.fixture
def live_server(database_url, backend) -> Iterator[str]:
    """The app served by a real uvicorn on a free port (in a thread); yields its base URL."""
    with servers.in_thread(create_app(settings_for(backend, database_url))) as base:
        yield base


@pytest.fixture
def clear_of_a_window_boundary() -> None:
    """The limiter's windows are whole minutes of the clock, and its count slides: just past a
    boundary, a budget used up just before it has room again for one request. A test that
    counts to its quota starts at least 5 seconds (far longer than it runs) before the next one."""
    wait_clear_of_a_window_boundary()


def wait_clear_of_a_window_boundary(seconds: float = 5) -> None:
    """Return once at least `seconds` are left before the next minute of the clock."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
