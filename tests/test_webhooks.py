"""Webhook endpoints (issue 22, step 1): registered, listed, read, changed, removed and their
secrets rotated by a partner's API key with `webhooks:manage`; private to their partner; at most
10; and only at `https` URLs whose host resolves to public addresses. Nothing refused is stored."""

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.webhooks import urls
from app.webhooks.tables import WebhookEndpoint

MANAGE = "sessions:read,sessions:write,webhooks:manage"
URL = "https://hooks.example.com/stepwise"
PUBLIC = "93.184.215.14"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> dict[str, list[str]]:
    """Host names resolve from this table (no network in tests); an unknown one does not resolve."""
    table = {
        "hooks.example.com": [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "inside.example.com": [PUBLIC, "10.1.2.3"],  # one private address is enough to refuse it
    }

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    monkeypatch.setattr(urls, "resolve", resolve)
    return table


@pytest.fixture
def key(make_key) -> str:
    return make_key(MANAGE)


def patch(client, key, endpoint_id, body):
    headers = bearer(key) | {"Content-Type": "application/merge-patch+json"}
    return client.patch(f"/v1/webhooks/{endpoint_id}", content=json.dumps(body), headers=headers)


def rotate(client, key, endpoint_id):
    """A POST with no body (and so no Content-Type)."""
    return client.post(f"/v1/webhooks/{endpoint_id}/secret", headers=bearer(key))


def register(client, key, **body):
    return client.post("/v1/webhooks", json={"url": URL, "events": ["safety.red_flag"]} | body, headers=bearer(key))


def stored(app) -> list[WebhookEndpoint]:
    with Session(app.state.engine) as session:
        return list(session.exec(select(WebhookEndpoint)).all())


def test_an_endpoint_is_registered_with_its_location_and_a_secret_shown_once(client, key):
    response = register(client, key, events=["session.created", "safety.pain_stop"], description="Care team")
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "url", "events", "description", "enabled", "created_at", "secret"}
    assert (created["url"], created["events"], created["description"], created["enabled"]) == (
        URL,
        ["session.created", "safety.pain_stop"],
        "Care team",
        True,
    )
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"), validate=True)) == 32
    assert datetime.fromisoformat(created["created_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert response.headers["location"] == f"/v1/webhooks/{created['id']}"
    answered = client.get(response.headers["location"], headers=bearer(key)).json()
    assert answered == {k: v for k, v in created.items() if k != "secret"}
    listed = client.get("/v1/webhooks", headers=bearer(key)).json()
    assert listed == {"items": [answered]}
    assert register(client, key).json()["secret"] != created["secret"]


def test_an_endpoint_is_changed_and_removed(client, key):
    created = register(client, key, description="first").json()
    path = f"/v1/webhooks/{created['id']}"
    changed = patch(client, key, created["id"], {"enabled": False, "events": ["user.erased", "webhook.test"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["enabled"], changed.json()["events"], changed.json()["description"]) == (
        False,
        ["user.erased", "webhook.test"],
        "first",
    )
    moved = patch(client, key, created["id"], {"url": "https://hooks.example.com/v2", "description": None})
    assert (moved.json()["url"], moved.json()["description"], moved.json()["enabled"]) == (
        "https://hooks.example.com/v2",
        None,
        False,
    )
    assert "secret" not in moved.json()
    assert client.get(path, headers=bearer(key)).json() == moved.json()
    assert patch(client, key, created["id"], {}).json() == moved.json()
    assert client.delete(path, headers=bearer(key)).status_code == 204
    assert client.get(path, headers=bearer(key)).status_code == 404
    assert client.delete(path, headers=bearer(key)).status_code == 404
    assert client.get("/v1/webhooks", headers=bearer(key)).json() == {"items": []}


def test_a_partner_has_at_most_ten_endpoints(client, key, app):
    for _ in range(10):
        assert register(client, key).status_code == 201
    refused = register(client, key)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert len(stored(app)) == 10
    first = client.get("/v1/webhooks", headers=bearer(key)).json()["items"][0]
    client.delete(f"/v1/webhooks/{first['id']}", headers=bearer(key))
    assert register(client, key).status_code == 201


def test_another_partners_endpoint_is_not_found(client, key, make_key, app):
    created = register(client, key).json()
    other = make_key(MANAGE)
    path = f"/v1/webhooks/{created['id']}"
    assert client.get(path, headers=bearer(other)).status_code == 404
    assert patch(client, other, created["id"], {"enabled": False}).status_code == 404
    assert rotate(client, other, created["id"]).status_code == 404
    assert client.delete(path, headers=bearer(other)).status_code == 404
    assert client.get("/v1/webhooks", headers=bearer(other)).json() == {"items": []}
    (row,) = stored(app)
    assert (row.enabled, row.secret, row.previous_secret) == (True, created["secret"], None)


def test_only_a_key_with_the_scope_manages_webhooks(client, key, make_key):
    created = register(client, key).json()
    without = make_key("catalogue:read,sessions:read,sessions:write")
    assert register(client, without).status_code == 403
    assert client.get("/v1/webhooks", headers=bearer(without)).status_code == 403
    assert client.get("/v1/webhooks").status_code == 401
    minted = client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=bearer(key))
    token = minted.json()["token"]
    for method, path in (("GET", "/v1/webhooks"), ("POST", f"/v1/webhooks/{created['id']}/secret")):
        refused = client.request(method, path, headers=bearer(token))
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    asked = client.post("/v1/users/u-1/tokens", json={"scopes": ["webhooks:manage"]}, headers=bearer(key))
    assert asked.status_code == 422  # a user token never carries it


def test_rotating_the_secret_keeps_the_previous_one_live_for_a_day(client, key, app):
    created = register(client, key).json()
    rotated = rotate(client, key, created["id"])
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()) == {"secret"}
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    assert len(base64.b64decode(new.removeprefix("whsec_"), validate=True)) == 32
    (row,) = stored(app)
    assert (row.secret, row.previous_secret) == (new, created["secret"])
    assert row.previous_secret_until is not None
    live_for = row.previous_secret_until - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < live_for <= timedelta(hours=24)
    assert "secret" not in client.get(f"/v1/webhooks/{created['id']}", headers=bearer(key)).json()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "https"),
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "not public"),
        ("https://10.0.0.1/x", "not public"),
        ("https://172.16.5.4/x", "not public"),
        ("https://192.168.1.1/x", "not public"),
        ("https://169.254.169.254/latest/meta-data", "not public"),
        ("https://[::1]/x", "not public"),
        ("https://[fe80::1]/x", "not public"),
        ("https://[::ffff:127.0.0.1]/x", "not public"),
        ("https://0.0.0.0/x", "not public"),
        ("https://224.0.0.1/x", "not public"),
        ("https://inside.example.com/x", "not public"),
        ("https://nowhere.example.com/x", "does not resolve"),
        ("https:///x", "no host"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
    ],
)
def test_a_url_that_is_not_https_to_public_addresses_is_refused(client, key, app, url, why):
    refused = register(client, key, url=url)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    (error,) = refused.json()["errors"]
    assert error["loc"] == ["body", "url"] and why in error["msg"]
    created = register(client, key).json()
    patched = patch(client, key, created["id"], {"url": url, "enabled": False})
    assert patched.status_code == 422 and patched.json()["errors"][0]["loc"] == ["body", "url"]
    (row,) = stored(app)
    assert (row.url, row.enabled) == (URL, True)


def test_localhost_is_refused_as_it_resolves(client, key, monkeypatch):
    monkeypatch.setattr(urls, "resolve", lambda host, port: ["127.0.0.1", "::1"])
    refused = register(client, key, url="https://localhost:8443/hook")
    assert refused.status_code == 422 and "not public" in refused.json()["errors"][0]["msg"]


@pytest.mark.parametrize(
    "events", [[], ["session.deleted"], ["safety.red_flag", "nope"], "safety.red_flag", None], ids=repr
)
def test_unknown_or_no_events_are_refused(client, key, app, events):
    refused = register(client, key, events=events)
    assert refused.status_code == 422, refused.text
    assert all(error["loc"][:2] == ["body", "events"] for error in refused.json()["errors"])
    created = register(client, key).json()
    patched = patch(client, key, created["id"], {"events": events})
    assert patched.status_code == 422
    assert [row.events for row in stored(app)] == [["safety.red_flag"]]


def test_unknown_fields_and_nulls_are_refused(client, key):
    assert register(client, key, secret="whsec_mine").status_code == 422
    created = register(client, key).json()
    for field in ("url", "events", "enabled"):
        refused = patch(client, key, created["id"], {field: None})
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", field]


def test_duplicate_events_are_kept_once(client, key):
    created = register(client, key, events=["safety.red_flag", "webhook.test", "safety.red_flag"]).json()
    assert created["events"] == ["safety.red_flag", "webhook.test"]


def test_private_addresses_and_http_are_allowed_when_the_deployment_says_so(client, key, app, monkeypatch):
    monkeypatch.setattr(app.state.settings, "webhooks_allow_private", True)
    for url in ("http://127.0.0.1:9000/hook", "https://10.0.0.1/hook", "http://inside.example.com/x"):
        assert register(client, key, url=url).status_code == 201, url
    assert register(client, key, url="ftp://127.0.0.1/x").status_code == 422
    assert register(client, key, url="http://nowhere.example.com/x").status_code == 422


def test_checked_url_answers_the_addresses_a_delivery_may_use():
    assert asyncio.run(urls.checked_url(URL)) == [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    with pytest.raises(urls.RefusedUrl):
        asyncio.run(urls.checked_url("https://169.254.169.254/"))
    assert asyncio.run(urls.checked_url("http://192.168.0.5:8080/", allow_private=True)) == ["192.168.0.5"]
