"""User tokens: minted by a partner's key for one user, acting for that user alone, on every
route and on the hot and fast paths; expired, forged, or from a revoked key: 401."""

import os
import re
import sys
import time
from datetime import datetime

import httpx
import jwt
import pytest
from sqlmodel import Session, select

from app.db.secrets import DeploymentSecret
from app.main import create_app
from app.settings import Settings
from tests import servers
from tests.factories import session_body

ALL = "catalogue:read,sessions:read,sessions:write"
RECOMMENDATION = "/v1/users/{}/recommendation?progression=lunge-ladder"
ROUTINE = "/v1/users/{}/routine?progression=lunge-ladder"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def key(make_key) -> str:
    return make_key(ALL)


def mint(client, key: str, user: str, **body) -> httpx.Response:
    return client.post(f"/v1/users/{user}/tokens", json={"scopes": ALL.split(","), **body}, headers=bearer(key))


def token_for(client, key: str, user: str, **body) -> str:
    minted = mint(client, key, user, **body)
    assert minted.status_code == 201, minted.text
    return minted.json()["token"]


def test_a_token_is_minted_for_one_user_with_the_scopes_asked_for(client, key):
    before = time.time()
    minted = mint(client, key, "u-1", scopes=["sessions:read", "catalogue:read"], ttl_seconds=120)
    assert minted.status_code == 201 and minted.headers["cache-control"] == "no-store"
    body = minted.json()
    assert set(body) == {"token", "user_id", "scopes", "expires_at"}
    assert body["user_id"] == "u-1" and body["scopes"] == ["catalogue:read", "sessions:read"]
    expires_at = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert body["expires_at"].endswith("Z") and before + 119 <= expires_at <= time.time() + 121
    default = mint(client, key, "u-1").json()
    assert 899 <= datetime.fromisoformat(default["expires_at"]).timestamp() - time.time() <= 901
    assert not body["token"].startswith("sw_") and key not in body["token"]


def test_a_token_acts_for_its_user_on_every_user_route(client, key):
    token = bearer(token_for(client, key, "u-1"))
    posted = [client.post("/v1/users/u-1/sessions", json=session_body(), headers=token) for _ in range(3)]
    assert [p.status_code for p in posted] == [201, 201, 201]  # the framework, then the hot path
    listed = client.get("/v1/users/u-1/sessions", headers=token)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 3
    one = posted[0].json()["id"]
    assert client.get(f"/v1/users/u-1/sessions/{one}", headers=token).status_code == 200
    patched = client.patch(
        f"/v1/users/u-1/sessions/{one}",
        content=b'{"notes": "from the browser"}',
        headers=token | {"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.json()["notes"] == "from the browser"
    for _ in range(2):  # the framework, then the hot path
        assert client.get(RECOMMENDATION.format("u-1"), headers=token).status_code == 200
    assert client.get(ROUTINE.format("u-1"), headers=token).status_code == 200
    # What the token wrote belongs to the partner: its key sees the same sessions.
    by_key = client.get("/v1/users/u-1/sessions", headers=bearer(key)).json()["items"]
    assert [s["id"] for s in by_key] == [s["id"] for s in listed.json()["items"]]


def test_a_token_gets_403_on_another_user_on_the_batch_and_on_minting(client, key):
    token = bearer(token_for(client, key, "u-1"))
    for method, path, body in [
        ("GET", "/v1/users/u-2/sessions", None),
        ("POST", "/v1/users/u-2/sessions", session_body()),
        ("POST", "/v1/users/u-2/sessions", session_body()),  # again: the hot path refuses it too
        ("GET", RECOMMENDATION.format("u-2"), None),
        ("GET", RECOMMENDATION.format("u-2"), None),
        ("GET", ROUTINE.format("u-2"), None),
        ("DELETE", "/v1/users/u-2", None),
        ("POST", "/v1/sessions/batch", {"sessions": [{"user_id": "u-1", **session_body()}]}),
        ("POST", "/v1/users/u-1/tokens", {"scopes": ["sessions:read"]}),
        ("POST", "/v1/users/u-2/tokens", {"scopes": ["sessions:read"]}),
    ]:
        response = client.request(method, path, json=body, headers=token)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/users/u-2/sessions", headers=bearer(key)).json()["items"] == []  # nothing stored


def test_a_token_reads_the_catalogue_and_evaluates_with_catalogue_read(client, key):
    token = bearer(token_for(client, key, "u-1", scopes=["catalogue:read"]))
    for _ in range(3):  # the route renders the answer; the fast path answers the next ones
        assert client.get("/v1/progressions/lunge-ladder", headers=token).status_code == 200
    evaluated = client.post(
        "/v1/recommendations/evaluate",
        json={"progression": "lunge-ladder", "sessions": [session_body()], "as_of": "2026-11-25T08:00:00Z"},
        headers=token,
    )
    assert evaluated.status_code == 200
    assert client.get("/v1/users/u-1/sessions", headers=token).status_code == 403  # no sessions:read
    assert client.post("/v1/users/u-1/sessions", json=session_body(), headers=token).status_code == 403


def test_a_token_without_catalogue_read_gets_403_on_the_catalogue_even_once_cached(client, key):
    reader = bearer(token_for(client, key, "u-1", scopes=["catalogue:read"]))
    writer = bearer(token_for(client, key, "u-1", scopes=["sessions:write"]))
    assert client.get("/v1/muscles", headers=reader).status_code == 200
    assert client.get("/v1/muscles", headers=reader).status_code == 200  # cached now
    assert client.get("/v1/muscles", headers=writer).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"scopes": []}, 422),
        ({"scopes": ["catalogue:write"]}, 422),
        ({"scopes": ["sessions:read"], "ttl_seconds": 59}, 422),
        ({"scopes": ["sessions:read"], "ttl_seconds": 3601}, 422),
        ({"scopes": ["sessions:read"], "ttl_seconds": 90.5}, 422),
        ({"scopes": ["sessions:read"], "ttl_seconds": 3600.0}, 201),
        ({"scopes": ["sessions:read"], "extra": 1}, 422),
        ({"scopes": "sessions:read"}, 422),
    ],
)
def test_minting_checks_its_body(client, key, body, status):
    response = client.post("/v1/users/u-1/tokens", json=body, headers=bearer(key))
    assert response.status_code == status, response.text


def test_a_key_cannot_mint_a_scope_it_lacks_nor_without_sessions_write(client, make_key):
    writer = make_key("sessions:read,sessions:write")
    lacking = client.post("/v1/users/u-1/tokens", json={"scopes": ["catalogue:read"]}, headers=bearer(writer))
    assert lacking.status_code == 403 and "catalogue:read" in lacking.json()["detail"]
    reader = make_key("catalogue:read,sessions:read")
    assert (
        client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=bearer(reader)).status_code
        == 403
    )


def resigned(app, token: str, **changes) -> str:
    """The token with some claims changed, signed again with the deployment's secret."""
    secret = app.state.keys.tokens.secret
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="stepwise")
    return jwt.encode(claims | changes, secret, algorithm="HS256")


def test_an_expired_token_is_401_and_says_so(client, key, app):
    token = token_for(client, key, "u-1")
    expired = resigned(app, token, exp=int(time.time()) - 1)
    for path in ("/v1/users/u-1/sessions", "/v1/muscles", RECOMMENDATION.format("u-1")):
        response = client.get(path, headers=bearer(expired))
        assert response.status_code == 401 and "expired" in response.json()["detail"]
        assert "expired" in response.headers["www-authenticate"]
    posted = client.post("/v1/users/u-1/sessions", json=session_body(), headers=bearer(expired))
    assert posted.status_code == 401


def test_forged_and_foreign_tokens_are_401(client, key, app):
    token = token_for(client, key, "u-1")
    header, payload, signature = token.split(".")
    other_user = resigned(app, token, sub="u-2").split(".")[1]
    for forged in (
        f"{header}.{other_user}.{signature}",  # another user's claims under this signature
        jwt.encode(jwt.decode(token, options={"verify_signature": False}), "another-secret-" * 3, algorithm="HS256"),
        jwt.encode(jwt.decode(token, options={"verify_signature": False}), None, algorithm="none"),
        f"{header}.{payload}.",
        "eyJ.not.atoken",
    ):
        response = client.get("/v1/users/u-2/sessions", headers=bearer(forged))
        assert response.status_code == 401, forged
    assert client.get("/v1/users/u-1/sessions", headers=bearer(token)).status_code == 200


def test_revoking_the_minting_key_stops_its_tokens_within_the_key_cache_time(client, database_url, key, app, cli):
    token = bearer(token_for(client, key, "u-1"))
    assert client.get("/v1/muscles", headers=token).status_code == 200
    assert client.get("/v1/muscles", headers=token).status_code == 200  # the fast path, from memory
    assert cli(database_url, "partners", "revoke", key[:11]).returncode == 0
    revoked_at = time.monotonic()
    while client.get("/v1/muscles", headers=token).status_code == 200:
        assert time.monotonic() - revoked_at < app.state.settings.key_cache_seconds + 0.5, "token outlived its key"
        time.sleep(0.05)
    refused = client.get("/v1/users/u-1/sessions", headers=token)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    print(f"token refused {time.monotonic() - revoked_at:.2f} s after its key was revoked")


def test_replicas_share_the_secret_the_first_one_made(client, key, app, database_url):
    with Session(app.state.engine) as session:
        stored = session.exec(select(DeploymentSecret).where(DeploymentSecret.name == "user-token-signing")).all()
    assert len(stored) == 1 and len(stored[0].value) >= 48
    token = token_for(client, key, "u-1")
    replica = create_app(
        Settings(database_url=database_url, db_prepared_statements=app.state.settings.db_prepared_statements)
    )
    from fastapi.testclient import TestClient

    with TestClient(replica) as second:
        assert second.get("/v1/users/u-1/sessions", headers=bearer(token)).status_code == 200


def test_a_configured_secret_signs_the_tokens(database_url, make_key, app):
    from fastapi.testclient import TestClient

    secret = "s" * 40
    configured = create_app(
        Settings(
            database_url=database_url,
            token_secret=secret,
            db_prepared_statements=app.state.settings.db_prepared_statements,
        )
    )
    key = make_key(ALL)
    with TestClient(configured) as client:
        token = token_for(client, key, "u-1")
    assert jwt.decode(token, secret, algorithms=["HS256"], issuer="stepwise")["sub"] == "u-1"


def test_tokens_and_keys_never_reach_the_logs(tmp_path):
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'stepwise.db'}",
        "STEPWISE_ACCESS_LOG": "true",
        "STEPWISE_LOG_LEVEL": "debug",
    }
    with servers.serving_process([sys.executable, "-m", "app"], env=env, cwd=tmp_path) as (server, base, key):
        minted = httpx.post(f"{base}/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=bearer(key))
        token = minted.json()["token"]
        assert httpx.get(f"{base}/v1/users/u-1/sessions", headers=bearer(token)).status_code == 200
        assert httpx.get(f"{base}/v1/users/u-2/sessions", headers=bearer(token)).status_code == 403
        time.sleep(0.3)
    # The log lines (the demo's start-up lines, which show its key to its owner, are not logs).
    logged = "".join(line for line in server.captured if re.match(r"\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ ", line))
    assert "/v1/users/{user_id}/tokens" in logged  # the request lines were written
    assert token not in logged and token.split(".")[2] not in logged
    assert key not in logged
