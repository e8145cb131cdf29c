"""A 2xx for a write means its events will be delivered: `stepwise serve` is SIGKILLed right
after answering 25 session POSTs whose events could not be delivered yet (the receiver refused
them), and the next start delivers every one of them."""

import json
import signal
import subprocess
import time

import httpx

from tests.factories import at, free_port, session_body
from tests.test_crash import start_serve
from tests.webhook_receiver import receiver

POSTS = 25


def _start(database_url: str, port: int) -> subprocess.Popen:
    # Attempts every 2 s: none runs out before the restart, and the restart retries within 2 s;
    # a delivery in flight at the kill is sent again once its 3 s lease has run out.
    retries = ",".join(["2"] * 9)
    return start_serve(
        database_url,
        port,
        STEPWISE_WEBHOOKS_ALLOW_PRIVATE="true",
        STEPWISE_WEBHOOK_RETRY_SECONDS=retries,
        STEPWISE_WEBHOOK_LEASE_SECONDS="3",
    )


def test_events_of_acknowledged_writes_survive_a_sigkill(empty_database_url, cli):
    assert cli(empty_database_url, "db", "upgrade").returncode == 0
    created = cli(empty_database_url, "partners", "create", "crash-hooks", "--scopes", "sessions:write,webhooks:manage")
    headers = {"Authorization": f"Bearer {created.stdout.splitlines()[-1]}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with receiver() as inbox:
        inbox.statuses = [503] * 10_000  # nothing can be delivered before the kill
        server = _start(empty_database_url, port)
        try:
            hook = httpx.post(
                f"{base}/v1/webhooks", json={"url": inbox.url, "events": ["session.created"]}, headers=headers
            )
            assert hook.status_code == 201, hook.text
            acknowledged = []
            for index in range(POSTS):
                answer = httpx.post(
                    f"{base}/v1/users/crash-{index % 3}/sessions",
                    json=session_body(performed_at=at(index * 60)),
                    headers=headers,
                )
                assert answer.status_code == 201, answer.text
                acknowledged.append(answer.json()["id"])
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
        refused_before = len(inbox.requests)
        inbox.statuses = []  # the receiver is back
        inbox.requests.clear()
        server = _start(empty_database_url, port)
        try:
            deadline = time.monotonic() + 30
            while True:
                arrived = {request_data(request.body)["session_id"] for request in inbox.requests}
                if arrived >= set(acknowledged):
                    break
                assert time.monotonic() < deadline, f"{len(arrived)} of {POSTS} delivered after the restart"
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert arrived == set(acknowledged)
    assert refused_before >= 1  # deliveries were being tried (and refused) before the kill


def request_data(body: bytes) -> dict:
    payload = json.loads(body)
    assert payload["type"] == "session.created"
    return payload["data"]
