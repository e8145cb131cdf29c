"""`stepwise serve --workers N`: N processes on one port, one view of their metrics, each
worker's share of a quota kept without Redis, and every worker shut down gracefully."""

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_clear_of_a_window_boundary
from tests.factories import at, free_port, session_body
from tests.test_crash import start_serve


def _workers_of(server: subprocess.Popen) -> list[int]:
    """The serving processes the command started (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture
def partner(backend, empty_database_url, cli) -> tuple[str, str]:
    if backend == "pgbouncer":
        pytest.skip("the workers run on SQLite and PostgreSQL")
    assert cli(empty_database_url, "db", "upgrade").returncode == 0
    created = cli(empty_database_url, "partners", "create", "workers", "--scopes", "catalogue:read,sessions:write")
    return empty_database_url, created.stdout.splitlines()[-1]


def test_two_workers_share_the_port_and_answer_metrics_for_both(partner):
    database_url, key = partner
    port = free_port()
    server = start_serve(database_url, port, "--workers", "2", STEPWISE_RATE_LIMIT_PER_MINUTE="40")
    try:
        assert len(_workers_of(server)) == 2
        headers = {"Authorization": f"Bearer {key}"}
        statuses = []
        wait_clear_of_a_window_boundary(10)  # (a minute's boundary would give each worker another 20)
        for _ in range(60):  # a new connection each: the kernel hands them to either worker
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/muscles", headers=headers)
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                # Without Redis, each worker keeps its half of the partner's 40 a minute.
                assert answer.headers["ratelimit-policy"] == '"partner";q=20;w=60'
        answered = statuses.count(200)
        assert 20 <= answered <= 40 and statuses.count(429) == 60 - answered
        time.sleep(1.5)  # each worker publishes its gauges every second
        route = 'stepwise_http_requests_total{method="GET",route="/v1/muscles",status="200"}'
        for _ in range(4):  # whichever worker is scraped, the same sums
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert _metric(scraped, route) == answered
            assert _metric(scraped, "stepwise_workers") == 2
            assert _metric(scraped, 'stepwise_rate_limit_rejections_total{policy="partner"}') == 60 - answered
            assert _metric(scraped, "process_resident_memory_bytes") > 0
    finally:
        server.terminate()
        server.wait(30)


def test_sigterm_lets_every_worker_finish_its_request_and_exit(partner):
    database_url, key = partner
    port = free_port()
    server = start_serve(database_url, port, "--workers", "2")
    workers = _workers_of(server)
    body = httpx.Request("POST", "/", json=session_body(client_session_id="in-flight", performed_at=at(0))).read()
    head = (
        f"POST /v1/users/u-1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(head + body[:10])  # a request under way when the signal comes
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        connection.settimeout(10)
        answer = connection.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 201"), answer[:200]
    assert server.wait(30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
