"""The HTTP edge of `stepwise serve` (a real process, raw sockets): oversized and slow clients are
cut off while memory and other clients stay unaffected.

- ten connections each sending an endless header get 431 after 16 KiB; the server's memory
  barely moves;
- a head with too many headers gets 431;
- 200 connections sending a header byte now and then (slowloris) are answered 408 and closed
  after the head timeout, and a normal client is answered meanwhile;
- a body that stops arriving gets 408 after the body timeout;
- past the connection cap, new requests get 503 at once instead of piling up.
"""

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import serving_process

HEAD_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS = 1.0, 1.0, 300
KEYS: list[str] = []  # the served app's demo key
DATABASES: list[Path] = []  # and its SQLite file


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[int, str, int]]:
    """(pid, base URL, port) of a service on a SQLite file with short edge timeouts."""
    cwd = tmp_path_factory.mktemp("edge")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{cwd / 'edge.db'}",
        "STEPWISE_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
        "STEPWISE_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "STEPWISE_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "STEPWISE_MAX_CONNECTIONS_PER_CLIENT": str(MAX_CONNECTIONS + 100),  # one address, many clients here
        "STEPWISE_LOG_LEVEL": "warning",
    }
    with serving_process([sys.executable, "-m", "app"], env=env, cwd=cwd) as (server, base, key):
        KEYS.append(key)
        DATABASES.append(cwd / "edge.db")
        yield server.pid, base, int(base.rsplit(":", 1)[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def answer_of(sock: socket.socket) -> bytes:
    """What the server sent before closing (b"" if it closed without a word)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def healthy_within(base: str, seconds: float) -> None:
    started = time.monotonic()
    assert httpx.get(f"{base}/healthz", timeout=seconds).status_code == 200
    assert time.monotonic() - started < seconds


def test_endless_headers_get_431_and_cost_no_memory(served):
    pid, base, port = served
    before = rss_mib(pid)
    floods = [connect(port) for _ in range(10)]
    cut_off = []

    def flood(sock: socket.socket) -> None:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        try:
            for _ in range(20 * 16):  # up to 20 MiB, in 64 KiB pieces
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        cut_off.append(answer_of(sock))

    threads = [threading.Thread(target=flood, args=(sock,)) for sock in floods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    grown = rss_mib(pid) - before
    print(f"RSS {before:.0f} MiB before ten 20 MiB header floods, grown by {grown:.1f} MiB")
    assert len(cut_off) == 10 and all(answer.startswith(b"HTTP/1.1 431") or answer == b"" for answer in cut_off)
    assert any(answer.startswith(b"HTTP/1.1 431") for answer in cut_off)
    assert grown < 20
    healthy_within(base, 1.0)


def test_too_many_headers_get_431(served):
    _, base, port = served
    with connect(port) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n"
        )
        assert answer_of(sock).startswith(b"HTTP/1.1 431")
    with connect(port) as sock:  # 99 headers and a host: fine
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(98)) + b"\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_slow_headers_are_cut_off_after_the_head_timeout_while_others_are_answered(served):
    pid, base, port = served
    slow = [connect(port) for _ in range(200)]
    for sock in slow:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    for _ in range(3):  # a trickle: a header byte every 0.3 s keeps no connection alive past the timeout
        healthy_within(base, 1.0)
        for sock in slow:
            try:
                sock.sendall(b"X")
            except OSError:
                pass
        time.sleep(0.3)
    answers = [answer_of(sock) for sock in slow]
    elapsed = time.monotonic() - started
    for sock in slow:
        sock.close()
    print(f"200 slow-header connections closed within {elapsed:.1f} s")
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
    assert elapsed < HEAD_TIMEOUT + 5


def test_a_stalled_body_gets_408_after_the_body_timeout(served):
    _, _, port = served
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/recommendations/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEYS[0].encode() + b'\r\nContent-Length: 1000\r\n\r\n{"sessions": ['
        )
        answer = answer_of(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert BODY_TIMEOUT * 0.9 <= elapsed < BODY_TIMEOUT + 3


def test_past_the_connection_cap_new_requests_get_503_at_once(served):
    _, base, port = served
    held = []
    try:
        for _ in range(MAX_CONNECTIONS + 10):
            sock = connect(port)
            held.append(sock)
        time.sleep(0.2)
        started = time.monotonic()
        refused = httpx.get(f"{base}/healthz", timeout=5)
        assert refused.status_code == 503 and time.monotonic() - started < 1
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + HEAD_TIMEOUT + 5
    while httpx.get(f"{base}/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_request_pipelined_behind_a_slow_answer_is_not_timed_out(served):
    """The first request waits on the database (held locked) past both timeouts while the
    second, complete, waits behind it: both are answered, in order; the client was never late."""
    import sqlite3

    _, _, port = served
    auth = f"Authorization: Bearer {KEYS[0]}\r\n".encode()
    # Larger than what uvicorn reads ahead: the rest waits in the socket until the first answer.
    body = b'{"progression": "lunge-ladder", "sessions": []' + b" " * 600_000 + b"}"
    locker = sqlite3.connect(DATABASES[0], isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with connect(port) as sock:
            sock.sendall(
                b"GET /v1/users/pipelined/sessions HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                b"POST /v1/recommendations/evaluate HTTP/1.1\r\nHost: x\r\n"
                + auth
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            time.sleep(HEAD_TIMEOUT + BODY_TIMEOUT + 0.5)
            locker.execute("COMMIT")
            sock.settimeout(10)
            received = b""
            while received.count(b"HTTP/1.1 ") < 2:
                chunk = sock.recv(65536)
                assert chunk, f"connection closed after: {received[:300]!r}"
                received += chunk
    finally:
        locker.close()
    first, second = received.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"200") and second.startswith(b"200"), received[:300]
