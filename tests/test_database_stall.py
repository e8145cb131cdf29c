"""A frozen or stopped database stops only the answers that need it, and only for a while.

`stepwise serve` runs on a PostgreSQL cluster of the test's own, which the tests freeze
(SIGSTOP), stop and start again:

- frozen briefly while 60 recommendation reads wait on it: `evaluate`, a catalogue read with a
  key checked moments ago, `/healthz` and `/metrics` still answer (waiting on the database
  holds no worker thread), and after the thaw the blocked reads are answered too;
- frozen for longer than the timeouts: the reads answer 503 within them, and after the thaw the
  service answers again (the connections given up on are replaced);
- stopped: 503 with `Retry-After` for what needs it, known keys still work from the cache;
- stopped under a load of session posts: every answer a 201 or a 503, every 201 stored.
"""

import os
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import text

from app.db.engines import make_engine
from tests import throwaway_postgres
from tests.factories import session_body
from tests.servers import serving

BLOCKED_READS = 60


@pytest.fixture
def cluster():
    problem = throwaway_postgres.available()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but no throwaway PostgreSQL cluster can be made: {problem}")
        pytest.skip(problem)
    with throwaway_postgres.throwaway_cluster() as made:
        yield made


@pytest.fixture
def settings() -> dict[str, str]:
    """Extra `STEPWISE_*` settings for the served app (a test overrides this fixture)."""
    return {}


@pytest.fixture
def served(cluster, tmp_path, settings):
    """(base URL, API key) of `stepwise serve` on the throwaway cluster."""
    env = os.environ | {"DATABASE_URL": cluster.url, "STEPWISE_LOG_LEVEL": "warning"} | settings
    with serving([sys.executable, "-m", "app"], env=env, cwd=tmp_path) as served:
        yield served


def test_a_frozen_database_does_not_stop_answers_that_need_none(cluster, served):
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    evaluate_body = {"progression": "lunge-ladder", "sessions": [session_body(faults=[])]}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        assert client.post("/v1/users/stalled/sessions", json=session_body(faults=[])).status_code == 201
        assert client.get("/v1/progressions/lunge-ladder").status_code == 200  # checks and caches the key
        assert client.post("/v1/recommendations/evaluate", json=evaluate_body).status_code == 200

    blocked: list[int] = []

    def read_recommendation() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            answer = client.get("/v1/users/stalled/recommendation", params={"progression": "lunge-ladder"})
            blocked.append(answer.status_code)

    cluster.freeze()
    try:
        readers = [threading.Thread(target=read_recommendation) for _ in range(BLOCKED_READS)]
        for reader in readers:
            reader.start()
        time.sleep(1.0)  # the reads have reached the database and wait on it
        assert blocked == [], "a read was answered although the database is frozen"
        with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
            for method, path, body in (
                ("POST", "/v1/recommendations/evaluate", evaluate_body),
                ("GET", "/v1/progressions/lunge-ladder", None),
                ("GET", "/healthz", None),
                ("GET", "/metrics", None),
            ):
                started = time.monotonic()
                answer = client.request(method, path, json=body)
                elapsed = time.monotonic() - started
                print(f"{method} {path}: {answer.status_code} in {elapsed * 1000:.0f} ms while frozen")
                assert answer.status_code == 200, (path, answer.text)
                # The bench's target is 100 ms; a test allows for a loaded CI machine.
                assert elapsed < 2.0, f"{path} took {elapsed:.2f} s while the database was frozen"
        assert blocked == []
    finally:
        cluster.thaw()
    for reader in readers:
        reader.join(timeout=60)
    assert blocked == [200] * BLOCKED_READS


@pytest.mark.parametrize("settings", [{"STEPWISE_KEY_CACHE_SECONDS": "0.5"}])
def test_a_stopped_database_answers_503_with_retry_after_and_recovers_without_a_restart(cluster, served, settings):
    """PostgreSQL shut down: every answer that needs it is a 503 problem with `Retry-After`,
    never a 500 or a dropped connection; those that do not still answer, with a key checked
    before the outage even once its cache time has passed; and once the database is back, the
    same service answers again."""
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    evaluate_body = {"progression": "lunge-ladder", "sessions": [session_body(faults=[])]}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        stored = client.post("/v1/users/outage/sessions", json=session_body(faults=[])).json()
        assert client.get("/v1/progressions/lunge-ladder").status_code == 200  # checks and caches the key
        cluster.stop()
        time.sleep(0.6)  # past the key cache time: the key is known only from before the outage
        needs_database = [
            ("POST", "/v1/users/outage/sessions", {"json": session_body(faults=[])}),
            ("POST", "/v1/users/outage/sessions", {"json": session_body(), "headers": {"Idempotency-Key": "k"}}),
            ("POST", "/v1/sessions/batch", {"json": {"sessions": [session_body(user_id="outage")]}}),
            ("GET", "/v1/users/outage/sessions", {}),
            ("GET", f"/v1/users/outage/sessions/{stored['id']}", {}),
            ("GET", "/v1/users/outage/recommendation?progression=lunge-ladder", {}),
            ("GET", "/v1/users/outage/routine?progression=lunge-ladder", {}),
            ("DELETE", "/v1/users/someone-else", {}),
            ("GET", "/v1/muscles", {"headers": {"Authorization": "Bearer sw_a-key-never-seen"}}),
        ]
        for method, path, request in needs_database:
            answer = client.request(method, path, **request)
            assert answer.status_code == 503, (method, path, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) > 0
        assert client.post("/v1/recommendations/evaluate", json=evaluate_body).status_code == 200
        assert client.get("/v1/progressions/lunge-ladder").status_code == 200
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and int(not_ready.headers["retry-after"]) > 0

        cluster.start()
        deadline = time.monotonic() + 30
        while True:  # connections the pool held from before the outage are replaced as they fail
            answer = client.post("/v1/users/outage/sessions", json=session_body(faults=[]))
            if answer.status_code == 201:
                break
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        listed = client.get("/v1/users/outage/sessions").json()["items"]
        assert len(listed) == 2  # the first session and the one stored after the outage; none in between


@pytest.mark.parametrize("settings", [{"STEPWISE_DB_STATEMENT_TIMEOUT": "1", "STEPWISE_DB_POOL_TIMEOUT": "1"}])
def test_a_database_frozen_longer_than_the_timeouts_answers_503_in_time_then_recovers(cluster, served, settings):
    """Frozen for good: reads holding a connection give up after the statement timeout, reads
    waiting for one after the pool timeout; each a 503 within seconds, not the minute a frozen
    server would otherwise take. After the thaw the same service answers again."""
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.post("/v1/users/frozen/sessions", json=session_body(faults=[])).status_code == 201
    answers: list[tuple[int, float]] = []

    def read_recommendation() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            started = time.monotonic()
            answer = client.get("/v1/users/frozen/recommendation", params={"progression": "lunge-ladder"})
            answers.append((answer.status_code, time.monotonic() - started))

    cluster.freeze()
    try:
        readers = [threading.Thread(target=read_recommendation) for _ in range(BLOCKED_READS)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=30)
        slowest = max(elapsed for _, elapsed in answers)
        statuses = sorted({status for status, _ in answers})
        print(f"{len(answers)} reads on a frozen database: statuses {statuses}, slowest {slowest:.1f} s")
        assert [status for status, _ in answers] == [503] * BLOCKED_READS
        # at most: the pool wait (1 s), a new connection to the frozen server (connect timeout,
        # 5 s), the statement timeout (1 s); plus a margin for a loaded machine
        assert slowest < 10, f"a read took {slowest:.1f} s with 1 s timeouts"
    finally:
        cluster.thaw()
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        deadline = time.monotonic() + 20
        while (answer := client.get("/v1/users/frozen/recommendation?progression=lunge-ladder")).status_code != 200:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        assert client.post("/v1/users/frozen/sessions", json=session_body(faults=[])).status_code == 201


@pytest.mark.parametrize("settings", [{"STEPWISE_DB_STATEMENT_TIMEOUT": "2", "STEPWISE_KEY_CACHE_SECONDS": "0.2"}])
def test_a_request_waits_on_a_stalled_database_for_one_deadline_not_one_per_piece_of_work(cluster, served, settings):
    """A key past its cache time is checked again, then the recommendation is read: two pieces
    of database work in a row. Both tables are locked; the keys' lock is let go after 1.5 s, the
    sessions' only after 6 s. The request's one deadline (2 s) then ends the read half a second
    later, not a whole statement timeout after the key check."""
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.post("/v1/users/one-deadline/sessions", json=session_body(faults=[])).status_code == 201
        time.sleep(0.3)  # past the key cache time: the next request checks the key again
        engine = make_engine(cluster.url)
        with engine.connect() as keys, engine.connect() as sessions:
            keys.execute(text("lock table api_key in access exclusive mode"))
            sessions.execute(text("lock table session_log in access exclusive mode"))
            release_keys = threading.Timer(1.5, keys.rollback)
            release_keys.start()
            started = time.monotonic()
            answer = client.get("/v1/users/one-deadline/recommendation", params={"progression": "lunge-ladder"})
            elapsed = time.monotonic() - started
            release_keys.join()
            sessions.rollback()
        engine.dispose()
    assert answer.status_code == 503, answer.text
    assert 1.9 < elapsed < 2.8, f"{elapsed:.1f} s: the key check's wait and then the read's own"


def test_a_database_stopped_under_load_loses_no_acknowledged_session(cluster, served):
    """Four clients post sessions while PostgreSQL is shut down and started again: every answer
    is a 201 or a 503 (no 500, no dropped connection), and every session answered 201 is stored."""
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    statuses: list[int] = []
    acknowledged: list[str] = []
    stop = threading.Event()

    def post_sessions(writer: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                answer = client.post("/v1/users/load/sessions", json=session_body(faults=[], notes=f"{writer}-{n}"))
                statuses.append(answer.status_code)
                if answer.status_code == 201:
                    acknowledged.append(answer.json()["id"])

    writers = [threading.Thread(target=post_sessions, args=(w,)) for w in range(4)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(1.0)
        cluster.stop()
        time.sleep(1.5)
        cluster.start()
        deadline = time.monotonic() + 30
        recovered_at = len(statuses)
        while 201 not in statuses[recovered_at:]:
            assert time.monotonic() < deadline, "no session stored after the database came back"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    counts = {status: statuses.count(status) for status in set(statuses)}
    print(f"session posts across the outage: {counts}")
    assert set(counts) == {201, 503}, counts
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        stored, url = set(), "/v1/users/load/sessions?limit=100"
        while url:
            page = client.get(url)
            assert page.status_code == 200
            stored |= {item["id"] for item in page.json()["items"]}
            url = page.links.get("next", {}).get("url")
    assert set(acknowledged) <= stored and len(acknowledged) == len(set(acknowledged))
