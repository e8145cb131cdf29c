"""A frozen database stops only the answers that need it.

`stepwise serve` runs on a PostgreSQL cluster of the test's own. The cluster is frozen
(SIGSTOP) while 60 recommendation reads wait on it. Meanwhile `evaluate`, a catalogue read
with a key checked moments ago, `/healthz` and `/metrics` still answer: waiting on the
database holds no worker thread. After the thaw, the blocked reads are answered too.
"""

import os
import sys
import threading
import time

import httpx
import pytest

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
def served(cluster, tmp_path):
    """(base URL, API key) of `stepwise serve` on the throwaway cluster."""
    env = os.environ | {"DATABASE_URL": cluster.url, "STEPWISE_LOG_LEVEL": "warning"}
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


def test_a_stopped_database_answers_503_with_retry_after_and_recovers_without_a_restart(cluster, served):
    """PostgreSQL shut down: every answer that needs it is a 503 problem with `Retry-After`,
    never a 500 or a dropped connection; those that do not still answer; and once the database
    is back, the same service answers again."""
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    evaluate_body = {"progression": "lunge-ladder", "sessions": [session_body(faults=[])]}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        stored = client.post("/v1/users/outage/sessions", json=session_body(faults=[])).json()
        assert client.get("/v1/progressions/lunge-ladder").status_code == 200  # checks and caches the key
        cluster.stop()
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
        assert client.get("/readyz").status_code == 503

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
