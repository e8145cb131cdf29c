"""Webhook deliveries (issue 22): signed as Standard Webhooks specifies (checked with the
`standardwebhooks` package, as a receiver would), retried with the same `webhook-id`, a 410
disabling the endpoint, both secrets signing after a rotation, replays, and the log of
attempts; sent to a real HTTP receiver."""

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.main import create_app
from tests.conftest import settings_for
from tests.webhook_receiver import Receiver, receiver

MANAGE = "webhooks:manage"


@pytest.fixture
def hooks(database_url, backend, fresh_partners) -> Iterator[TestClient]:
    """An app that may deliver to this machine (http, loopback) and retries after 0.3 s, twice."""
    settings = settings_for(
        backend,
        database_url,
        key_cache_seconds=1.0,
        rate_limit_per_minute=10_000_000,
        auth_failures_per_minute=1_000_000,
        webhooks_allow_private=True,
        webhook_retry_seconds="0.3,0.3",
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def inbox() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def register(client, key, url, events=("webhook.test",)) -> dict:
    answer = client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=bearer(key))
    assert answer.status_code == 201, answer.text
    return answer.json()


def settled(client, key, endpoint_id, *, count=1, timeout=10.0) -> list[dict]:
    """The endpoint's messages once `count` of them are no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        items = client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=bearer(key)).json()["items"]
        if len([item for item in items if item["status"] != "pending"]) >= count:
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.05)


def test_a_test_event_arrives_signed_and_a_forged_body_fails_verification(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    assert hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key)).json() == {"queued": 1}
    [message] = settled(hooks, key, endpoint["id"])
    assert message["status"] == "delivered" and message["type"] == "webhook.test"
    assert [attempt["response_status"] for attempt in message["attempts"]] == [200]
    [received] = inbox.requests
    assert received.headers["webhook-id"] == message["id"] and received.headers["content-type"] == "application/json"
    payload = Webhook(endpoint["secret"]).verify(received.body, received.headers)
    assert payload["type"] == "webhook.test" and payload["data"] == {} and payload["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(received.body.replace(b"{}", b'{"forged":1}'), received.headers)
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        Webhook("whsec_" + "A" * 43 + "=").verify(received.body, received.headers)


def test_a_failed_attempt_is_retried_with_the_same_webhook_id(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    inbox.statuses = [500]
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    [message] = settled(hooks, key, endpoint["id"])
    assert message["status"] == "delivered"
    assert [attempt["response_status"] for attempt in message["attempts"]] == [500, 200]
    assert [request.headers["webhook-id"] for request in inbox.requests] == [message["id"]] * 2
    for request in inbox.requests:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)


def test_an_endpoint_always_failing_ends_failed_after_the_last_attempt(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    inbox.statuses = [503, 500, 302]  # a redirect is a failed attempt too (none is followed)
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    [message] = settled(hooks, key, endpoint["id"])
    assert message["status"] == "failed"
    assert [attempt["response_status"] for attempt in message["attempts"]] == [503, 500, 302]
    assert len(inbox.requests) == 3


def test_a_410_disables_the_endpoint(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    inbox.statuses = [410]
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    [message] = settled(hooks, key, endpoint["id"])
    assert message["status"] == "failed" and len(inbox.requests) == 1
    assert hooks.get(f"/v1/webhooks/{endpoint['id']}", headers=bearer(key)).json()["enabled"] is False
    assert hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key)).json() == {"queued": 0}


def test_after_a_rotation_both_secrets_sign(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    new = hooks.post(f"/v1/webhooks/{endpoint['id']}/secret", headers=bearer(key)).json()["secret"]
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    settled(hooks, key, endpoint["id"])
    [received] = inbox.requests
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], new):
        Webhook(secret).verify(received.body, received.headers)


def test_a_replay_sends_the_same_message_again_and_the_log_is_the_partners_own(hooks, make_key, inbox):
    key, other = make_key(MANAGE), make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    [first] = settled(hooks, key, endpoint["id"])
    replayed = hooks.post(
        f"/v1/webhooks/{endpoint['id']}/replay", json={"since": first["created_at"]}, headers=bearer(key)
    )
    assert replayed.status_code == 202 and replayed.json() == {"queued": 1}
    deadline = time.monotonic() + 10
    while len(inbox.requests) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert inbox.requests[0].body == inbox.requests[1].body
    assert inbox.requests[1].headers["webhook-id"] == first["id"]
    for path in ("deliveries", "replay", "test"):
        method = hooks.get if path == "deliveries" else hooks.post
        kwargs = {"json": {"since": first["created_at"]}} if path == "replay" else {}
        answer = method(f"/v1/webhooks/{endpoint['id']}/{path}", headers=bearer(other), **kwargs)
        assert answer.status_code == 404, (path, answer.text)


def test_metrics_show_the_queue_and_the_attempts(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    inbox.statuses = [500]
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    settled(hooks, key, endpoint["id"])
    text = hooks.get("/metrics").text
    assert 'stepwise_webhook_attempts_total{outcome="failed"} 1.0' in text
    assert 'stepwise_webhook_attempts_total{outcome="delivered"} 1.0' in text
    assert "stepwise_webhook_queue_depth " in text and "stepwise_webhook_oldest_pending_seconds " in text


def strict_app(database_url, backend):
    """An app as deployed: https to public addresses only, retrying after 0.3 s."""
    settings = settings_for(
        backend, database_url, key_cache_seconds=1.0, rate_limit_per_minute=10_000_000, webhook_retry_seconds="0.3"
    )
    return create_app(settings)


def test_a_name_that_moved_to_a_private_address_is_not_called(database_url, backend, make_key, monkeypatch):
    from app.webhooks import urls

    addresses = {"hooks.example.com": ["93.184.215.14"]}
    monkeypatch.setattr(urls, "resolve", lambda host, port: addresses[host])
    key = make_key(MANAGE)
    with TestClient(strict_app(database_url, backend)) as client:
        endpoint = register(client, key, "https://hooks.example.com/in")
        addresses["hooks.example.com"] = ["10.0.0.7"]  # the name now points inside
        client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
        [message] = settled(client, key, endpoint["id"])
    assert message["status"] == "failed"
    assert [attempt["response_status"] for attempt in message["attempts"]] == [None, None]
    assert all("not public (10.0.0.7)" in attempt["error"] for attempt in message["attempts"])


def test_two_replicas_on_one_database_deliver_each_message_once(database_url, backend, make_key, inbox):
    if backend != "postgres":
        pytest.skip("replicas share a PostgreSQL; the embedded default is one process")
    settings = settings_for(
        backend, database_url, key_cache_seconds=1.0, rate_limit_per_minute=10_000_000, webhooks_allow_private=True
    )
    key = make_key(MANAGE)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        endpoints = [register(one, key, inbox.url)["id"] for _ in range(3)]
        for round_ in range(10):
            for index, endpoint in enumerate(endpoints):
                replica = one if (round_ + index) % 2 else two
                assert replica.post(f"/v1/webhooks/{endpoint}/test", headers=bearer(key)).status_code == 202
        deadline = time.monotonic() + 20
        while len(inbox.requests) < 30:
            assert time.monotonic() < deadline, len(inbox.requests)
            time.sleep(0.05)
        time.sleep(0.5)  # anything sent twice would arrive by now
    ids = [request.headers["webhook-id"] for request in inbox.requests]
    assert len(ids) == len(set(ids)) == 30


def test_a_disabled_endpoints_deliveries_wait_until_it_is_enabled_again(hooks, make_key, inbox):
    key = make_key(MANAGE)
    endpoint = register(hooks, key, inbox.url)
    inbox.statuses = [500]
    hooks.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(key))
    deadline = time.monotonic() + 10
    while not inbox.requests:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    switch = {"Content-Type": "application/merge-patch+json"} | bearer(key)
    hooks.patch(f"/v1/webhooks/{endpoint['id']}", content=b'{"enabled": false}', headers=switch)
    time.sleep(1.0)  # three retry intervals
    assert len(inbox.requests) == 1
    hooks.patch(f"/v1/webhooks/{endpoint['id']}", content=b'{"enabled": true}', headers=switch)
    [message] = settled(hooks, key, endpoint["id"])
    assert message["status"] == "delivered" and len(inbox.requests) == 2
