"""Crash safety on PostgreSQL: `stepwise serve` is SIGKILLed while batches are being posted.

Every batch is one transaction and its Idempotency-Key record is written in it, so after the
crash each batch is stored whole or not at all, the keys of unanswered batches are free, and
retrying them stores each session exactly once.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from app.db.engines import make_engine
from tests.factories import at, free_port, session_body

BATCHES, ITEMS, THREADS = 40, 25, 4


def start_serve(database_url: str, port: int, *arguments: str, **settings: str) -> subprocess.Popen:
    """`python -m app serve` on `port`, ready; `arguments` are more of its arguments, `settings`
    more environment variables."""
    env = os.environ | {"DATABASE_URL": database_url, "STEPWISE_LOG_LEVEL": "warning"} | settings
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), *arguments],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("stepwise serve did not become ready")


def _stored(database_url: str) -> list[tuple[str, str]]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("select user_id, client_session_id from session_log")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_sigkill_mid_batch_loses_nothing_acknowledged_and_stores_nothing_twice(backend, empty_database_url, cli):
    if backend != "postgres":
        pytest.skip("the crash test runs on PostgreSQL")
    assert cli(empty_database_url, "db", "upgrade").returncode == 0
    key = cli(empty_database_url, "partners", "create", "crash-test", "--scopes", "sessions:write").stdout.splitlines()[
        -1
    ]
    port = free_port()
    batches = {
        f"batch-{b}": [
            {"user_id": f"user-{i % 7}", **session_body(client_session_id=f"b{b}-i{i}", performed_at=at(b * ITEMS + i))}
            for i in range(ITEMS)
        ]
        for b in range(BATCHES)
    }
    headers = {"Authorization": f"Bearer {key}"}
    acknowledged: dict[str, list[dict]] = {}
    lock = threading.Lock()
    pending = list(batches)

    def post_batches() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if not pending:
                        return
                    name = pending.pop(0)
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}/v1/sessions/batch",
                        json={"sessions": batches[name]},
                        headers=headers | {"Idempotency-Key": name},
                    )
                except httpx.TransportError:
                    continue  # no answer: retried after the restart
                if response.status_code == 200:
                    with lock:
                        acknowledged[name] = response.json()["results"]

    server = start_serve(empty_database_url, port)
    workers = [threading.Thread(target=post_batches) for _ in range(THREADS)]
    for w in workers:
        w.start()
    while len(acknowledged) < BATCHES // 4:
        time.sleep(0.005)
    server.send_signal(signal.SIGKILL)  # mid-run: other batches are in flight
    server.wait()
    for w in workers:
        w.join()
    assert BATCHES // 4 <= len(acknowledged) < BATCHES, "the kill did not land mid-run"

    # after the crash: each batch is there whole or not at all, and every acknowledged one is
    stored = Counter(client_id.split("-")[0] for _, client_id in _stored(empty_database_url))
    for name in batches:
        count = stored.get(name.replace("batch-", "b"), 0)
        assert count in (0, ITEMS), f"{name} half-written: {count} of {ITEMS} items"
        if name in acknowledged:
            assert count == ITEMS

    server = start_serve(empty_database_url, port)
    try:
        with httpx.Client(timeout=30) as client:
            for name, items in batches.items():
                response = client.post(
                    f"http://127.0.0.1:{port}/v1/sessions/batch",
                    json={"sessions": items},
                    headers=headers | {"Idempotency-Key": name},
                )
                assert response.status_code == 200
                results = response.json()["results"]
                assert {r["status"] for r in results} <= {200, 201}
                if name in acknowledged:  # a replay of the very answer given before the crash
                    assert response.headers["idempotent-replayed"] == "true" and results == acknowledged[name]
    finally:
        server.terminate()
        server.wait(timeout=20)

    rows = _stored(empty_database_url)
    assert len(rows) == BATCHES * ITEMS and len(set(rows)) == len(rows)
