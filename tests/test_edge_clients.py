"""One client address cannot take what every client shares (a real `stepwise serve`, raw
sockets from two loopback addresses: 127.0.0.3 attacks, 127.0.0.2 is the honest partner):

- past its connection cap, an address's new connections get 503 at once, and the other
  address is answered meanwhile;
- a body dripped a byte at a time is cut off by its whole-body deadline, not kept alive by
  each byte;
- `X-Forwarded-For` is believed only from the proxies `FORWARDED_ALLOW_IPS` names: by default
  from none, so a local client cannot pick a new address per request to dodge its failed-login
  budget; a named proxy's own connections are not capped (it bounds its clients itself).
"""

import os
import socket
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import servers
from tests.servers import serving_process

# Their failed-login budgets count to a few: a test starts clear of a minute boundary.
pytestmark = pytest.mark.usefixtures("clear_of_a_window_boundary")
PER_CLIENT, BODY_TIMEOUT = 20, 1.0


def _serve(tmp_path_factory, **settings: str) -> Iterator[tuple[str, str, int]]:
    cwd = tmp_path_factory.mktemp("edge-clients")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{cwd / 'edge.db'}",
        "STEPWISE_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
        "STEPWISE_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "STEPWISE_AUTH_FAILURES_PER_MINUTE": "3",
        "STEPWISE_LOG_LEVEL": "warning",
        **settings,
    }
    with serving_process([sys.executable, "-m", "app"], env=env, cwd=cwd) as (_, base, key):
        yield base, key, int(base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str, int]]:
    """(base URL, demo key, port) with nothing trusted (the default)."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory) -> Iterator[tuple[str, str, int]]:
    """The same, with 127.0.0.1 named as the proxy."""
    yield from _serve(tmp_path_factory, FORWARDED_ALLOW_IPS="127.0.0.1")


def connect_from(address: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def honest(base: str, key: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    return httpx.Client(base_url=base, transport=transport, headers={"Authorization": f"Bearer {key}"}, timeout=5)


def first_bytes(sock: socket.socket) -> bytes:
    try:
        return sock.recv(200)
    except (TimeoutError, ConnectionResetError):
        return b""


def test_past_its_cap_an_address_gets_503_at_once_and_the_other_is_answered(served):
    base, key, port = served
    held = [connect_from("127.0.0.3", port) for _ in range(PER_CLIENT * 5)]
    try:
        time.sleep(0.3)
        refused = servers.answered_already(held)  # the others are open, waiting for a request
        for answer in refused:
            assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer, answer
            assert b"content-type: application/problem+json" in answer, answer
        assert len(refused) == PER_CLIENT * 4
        with honest(base, key) as client:
            assert all(client.get("/v1/muscles").status_code == 200 for _ in range(20))
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)  # closed: the address has its share again
    with connect_from("127.0.0.3", port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first_bytes(sock).startswith(b"HTTP/1.1 200")


def test_a_dripped_body_is_cut_off_by_its_whole_body_deadline(served):
    base, key, port = served
    drips = [connect_from("127.0.0.3", port) for _ in range(PER_CLIENT)]
    head = (
        f"POST /v1/users/u-1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n{"
    ).encode()
    started = time.monotonic()
    for sock in drips:
        sock.sendall(head)
    cut_off: dict[int, float] = {}
    with honest(base, key) as client:
        while len(cut_off) < len(drips) and time.monotonic() - started < BODY_TIMEOUT + 5:
            for number, sock in enumerate(drips):  # a byte every 0.2 s: no pause near the timeout
                if number in cut_off:
                    continue
                try:
                    sock.sendall(b" ")
                except OSError:
                    cut_off[number] = time.monotonic() - started
            assert client.get("/v1/muscles").status_code == 200
            time.sleep(0.2)
    for sock in drips:
        sock.close()
    assert len(cut_off) == len(drips)
    assert max(cut_off.values()) < BODY_TIMEOUT + 2  # the allowance plus a few bytes at 64 KiB/s


def _failed_logins(base: str, forwarded: list[str]) -> list[int]:
    """A wrong key from 127.0.0.1, claiming another X-Forwarded-For address each time."""
    statuses = []
    for address in forwarded:
        answer = httpx.get(
            f"{base}/v1/muscles", headers={"Authorization": "Bearer sw_wrong", "X-Forwarded-For": address}
        )
        statuses.append(answer.status_code)
    return statuses


def test_x_forwarded_for_is_not_believed_unless_the_proxy_is_named(served):
    base, _, _ = served
    statuses = _failed_logins(base, [f"203.0.113.{n}" for n in range(1, 7)])
    assert statuses[:3] == [401] * 3 and statuses[3:] == [429] * 3  # one budget: 127.0.0.1's


def test_behind_a_named_proxy_each_forwarded_client_has_its_own_budget_and_the_proxy_no_cap(behind_proxy):
    base, key, port = behind_proxy
    assert _failed_logins(base, ["203.0.113.1"] * 4) == [401] * 3 + [429]
    assert _failed_logins(base, ["203.0.113.2"]) == [401]  # another client behind the proxy
    held = [connect_from("127.0.0.1", port) for _ in range(PER_CLIENT * 2)]  # the proxy's connections
    try:
        time.sleep(0.3)
        for sock in held[-5:]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert first_bytes(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()
