"""The reverse proxy configuration docs/deployment.md gives, run as written in front of a real
`stepwise serve` (nginx from Debian, started here; skipped without it, a failure under CI=true).
Loopback addresses are clients: 127.0.0.3 attacks, 127.0.0.2 is the honest partner, and the budget and
burst tests have addresses of their own.

- each client address behind the proxy has its own failed-authentication budget (the service
  believes the proxy's `X-Forwarded-For`, and the proxy replaces whatever a client sent);
- 1,000 idle connections from one address, or 200 dripping bodies, leave the other address
  answered 200 (nginx holds the idle ones cheaply and refuses an address's requests past its
  `limit_conn` with 503);
- a burst past an address's `limit_req` rate gets 429 from nginx.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import servers
from tests.conftest import IN_CI
from tests.factories import free_port
from tests.servers import serving_process

ROOT = Path(__file__).parent.parent
# Their failed-login budgets count to a few: a test starts clear of a minute boundary.
pytestmark = pytest.mark.usefixtures("clear_of_a_window_boundary")
HONEST, ATTACKER = "127.0.0.2", "127.0.0.3"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def documented_configuration() -> str:
    """The `nginx` block of docs/deployment.md, exactly as a reader copies it."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/deployment.md shows one nginx configuration"
    return blocks[0]


def for_this_machine(block: str, service_port: int, proxy_port: int) -> str:
    """The documented block with its addresses pointed here: the one replica, the proxy's port."""
    replicas = re.findall(r"^\s*server \d+\.\d+\.\d+\.\d+:\d+;.*$", block, flags=re.M)
    assert len(replicas) == 2 and block.count("listen 80;") == 1, "the documented upstream and listen lines"
    block = block.replace(replicas[0], f"    server 127.0.0.1:{service_port};").replace(replicas[1], "")
    return block.replace("listen 80;", f"listen 127.0.0.1:{proxy_port};")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(the proxy's base URL, the demo key): nginx as documented, in front of `stepwise serve`."""
    binary = nginx_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("CI=true but nginx is not installed (apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    cwd = tmp_path_factory.mktemp("nginx")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{cwd / 'proxied.db'}",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",  # nginx connects from there
        "STEPWISE_AUTH_FAILURES_PER_MINUTE": "3",
        "STEPWISE_LOG_LEVEL": "warning",
    }
    with serving_process([sys.executable, "-m", "app"], env=env, cwd=cwd) as (_, base, key):
        proxy_port = free_port()
        block = for_this_machine(documented_configuration(), int(base.rsplit(":", 1)[1]), proxy_port)
        temp = cwd / "temp"
        temp.mkdir()
        paths = "\n".join(
            f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (cwd / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\nworker_rlimit_nofile 8192;\npid {cwd / 'nginx.pid'};\n"
            + f"error_log {cwd / 'error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
            + f"http {{\n    access_log off;\n{paths}\n{block}\n}}\n"
        )
        nginx = subprocess.Popen(
            [binary, "-p", str(cwd), "-c", str(cwd / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            proxy = f"http://127.0.0.1:{proxy_port}"
            deadline = time.monotonic() + 10
            while True:
                try:
                    if httpx.get(f"{proxy}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert nginx.poll() is None, f"nginx exited: {nginx.stderr.read() if nginx.stderr else ''}"
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.1)
            yield proxy, key
        finally:
            nginx.terminate()
            nginx.wait(10)


def client_from(address: str, base: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), headers=headers, timeout=5)


def connect_from(address: str, base: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
    return sock


def test_each_client_address_behind_the_proxy_has_its_own_failed_login_budget(proxied):
    base, _ = proxied
    wrong = {"Authorization": "Bearer sw_wrong", "X-Forwarded-For": "203.0.113.9"}  # replaced by nginx
    with client_from("127.0.0.4", base) as client:
        assert [client.get("/v1/muscles", headers=wrong).status_code for _ in range(4)] == [401, 401, 401, 429]
    with client_from("127.0.0.5", base) as client:
        assert client.get("/v1/muscles", headers=wrong).status_code == 401  # its own budget


def test_a_thousand_idle_connections_to_the_proxy_leave_another_address_answered(proxied):
    base, key = proxied
    held = [connect_from(ATTACKER, base) for _ in range(1000)]
    try:
        with client_from(HONEST, base, key) as honest:
            statuses = [honest.get("/v1/progressions/lunge-ladder").status_code for _ in range(20)]
        assert statuses == [200] * 20
    finally:
        for sock in held:
            sock.close()


def test_dripped_bodies_past_an_addresses_share_are_refused_and_another_is_answered(proxied):
    base, key = proxied
    head = (
        f"POST /v1/users/u-1/sessions HTTP/1.1\r\nHost: stepwise\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n{"
    ).encode()
    drips = [connect_from(ATTACKER, base) for _ in range(200)]
    try:
        for sock in drips:
            sock.sendall(head)
        time.sleep(0.5)
        answers = servers.answered_already(drips)  # the others are still being read, by nginx
        refused = sum(answer.startswith(b"HTTP/1.1 503") for answer in answers)
        assert refused >= 200 - 32  # past `limit_conn per_ip 32`
        with client_from(HONEST, base, key) as honest:
            for _ in range(3):  # a byte now and then from every drip meanwhile
                for sock in drips:
                    try:
                        sock.send(b" ")
                    except OSError:
                        pass
                assert honest.get("/v1/muscles").status_code == 200
                time.sleep(0.3)
    finally:
        for sock in drips:
            sock.close()


def test_a_burst_past_the_request_rate_gets_429_from_the_proxy(proxied):
    base, key = proxied
    with client_from("127.0.0.6", base, key) as bursting:  # an address with its whole burst
        statuses = [bursting.get("/healthz").status_code for _ in range(600)]
    assert statuses.count(429) > 0 and statuses[:200] == [200] * 200  # the burst, then the rate
    time.sleep(2.5)  # the rate refills: the address is served again
    with client_from("127.0.0.6", base, key) as bursting:
        assert bursting.get("/healthz").status_code == 200
