"""CORS with per-partner origins: preflights answered for an origin some partner allows, and an
answer's CORS headers only for its caller's partner's origins, on every path: framework, hot
paths and the catalogue's fast path; the origins set by the CLI and checked."""

import time

import pytest
from sqlmodel import Session

from app.background import ORIGINS_REFRESH_SECONDS, _load_origins
from app.cors import Origins, normalise_origin
from app.partners import service as partners
from tests.factories import session_body

ALL = "catalogue:read,sessions:read,sessions:write"
APP = "https://app.example.com"
OTHER = "https://other.example.org"
EXPOSED = {"etag", "link", "location", "x-request-id", "idempotent-replayed", "retry-after"}


@pytest.fixture
def allow(app):
    """Allow origins for a partner, as the CLI does, and have the app load them at once (the
    periodic reload is tested on its own below)."""

    def allow_origins(name: str, *origins: str) -> None:
        with Session(app.state.engine) as session:
            partners.change_origins(session=session, name=name, add=list(origins), remove=[])
            session.commit()
        app.state.origins = _load_origins(app.state.engine)

    yield allow_origins
    app.state.origins = Origins()  # the partners go with the test; the next one loads its own


@pytest.fixture
def keys(make_key, allow):
    """Two partners: `ours` allows APP, `theirs` allows OTHER."""
    ours, theirs = make_key(ALL, name="ours"), make_key(ALL, name="theirs")
    allow("ours", APP)
    allow("theirs", OTHER)
    return {"ours": {"Authorization": f"Bearer {ours}"}, "theirs": {"Authorization": f"Bearer {theirs}"}}


def cors_of(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def assert_allowed(response, origin: str) -> None:
    assert response.headers["access-control-allow-origin"] == origin, response.headers
    assert "Origin" in response.headers.get_list("vary") or "Origin" in response.headers["vary"]
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert EXPOSED <= exposed
    assert "access-control-allow-credentials" not in response.headers


def preflight(client, path: str, origin: str, method: str = "GET"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_204_with_the_cors_headers(client, keys):
    for origin in (APP, OTHER):  # no credentials in a preflight: any partner's origin
        answered = preflight(client, "/v1/users/u-1/sessions", origin, "POST")
        assert answered.status_code == 204 and answered.content == b""
        assert answered.headers["access-control-allow-origin"] == origin
        assert set(answered.headers["access-control-allow-methods"].replace(" ", "").split(",")) >= {"GET", "POST"}
        allowed = {h.strip().lower() for h in answered.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key", "if-none-match"} <= allowed
        assert int(answered.headers["access-control-max-age"]) > 0
        assert "Origin" in answered.headers["vary"]
    patch = preflight(client, "/v1/users/u-1/sessions/abc", APP, "PATCH")
    assert "PATCH" in patch.headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    ("path", "origin"),
    [
        ("/v1/users/u-1/sessions", "https://evil.example.net"),
        ("/v1/users/u-1/sessions", "https://app.example.com:8443"),
        ("/v1/users/u-1/sessions", "http://app.example.com"),
        ("/v1/no-such-path", APP),
        ("/healthz", APP),
    ],
)
def test_a_preflight_from_anywhere_else_gets_no_cors_headers(client, keys, path, origin):
    refused = preflight(client, path, origin)
    assert refused.status_code in (404, 405) and cors_of(refused) == {}


def test_answers_carry_cors_headers_only_for_their_partners_origins(client, keys):
    ours, theirs = keys["ours"], keys["theirs"]
    answered = client.get("/v1/users/u-1/sessions", headers=ours | {"Origin": APP})
    assert answered.status_code == 200
    assert_allowed(answered, APP)
    foreign = client.get("/v1/users/u-1/sessions", headers=ours | {"Origin": OTHER})  # their origin, our key
    assert foreign.status_code == 200 and cors_of(foreign) == {} and "Origin" in foreign.headers["vary"]
    no_origin = client.get("/v1/users/u-1/sessions", headers=ours)
    assert cors_of(no_origin) == {} and "Origin" in no_origin.headers["vary"]
    assert_allowed(client.get("/v1/users/u-1/sessions", headers=theirs | {"Origin": OTHER}), OTHER)


def test_the_catalogue_fast_path_never_hands_one_partners_cors_headers_to_another(client, keys):
    ours, theirs = keys["ours"], keys["theirs"]
    for _ in range(3):  # rendered by the route, then answered from memory
        assert_allowed(client.get("/v1/muscles", headers=ours | {"Origin": APP}), APP)
        refused = client.get("/v1/muscles", headers=theirs | {"Origin": APP})
        assert refused.status_code == 200 and cors_of(refused) == {}
        assert_allowed(client.get("/v1/muscles", headers=theirs | {"Origin": OTHER}), OTHER)
    etag = client.get("/v1/muscles", headers=ours).headers["etag"]
    not_modified = client.get("/v1/muscles", headers=ours | {"Origin": APP, "If-None-Match": etag})
    assert not_modified.status_code == 304
    assert_allowed(not_modified, APP)


def test_the_hot_paths_answer_with_cors_headers(client, keys):
    ours = keys["ours"] | {"Origin": APP}
    for _ in range(3):  # the framework, then the hot paths
        posted = client.post("/v1/users/u-1/sessions", json=session_body(), headers=ours)
        assert posted.status_code == 201
        assert_allowed(posted, APP)
        advice = client.get("/v1/users/u-1/recommendation?progression=lunge-ladder", headers=ours)
        assert advice.status_code == 200
        assert_allowed(advice, APP)


def test_errors_a_frontend_must_read_carry_cors_headers(client, keys, app):
    ours = keys["ours"]
    minted = client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=ours)
    token = {"Authorization": f"Bearer {minted.json()['token']}", "Origin": APP}
    other_user = client.get("/v1/users/u-2/sessions", headers=token)
    assert other_user.status_code == 403
    assert_allowed(other_user, APP)
    missing = client.get("/v1/users/u-1/sessions/nope", headers=token)
    assert missing.status_code == 404
    assert_allowed(missing, APP)
    import jwt

    secret = app.state.keys.tokens.secret
    claims = jwt.decode(minted.json()["token"], secret, algorithms=["HS256"], issuer="stepwise")
    expired = jwt.encode(claims | {"exp": int(time.time()) - 5}, secret, algorithm="HS256")
    refused = client.get("/v1/users/u-1/sessions", headers={"Authorization": f"Bearer {expired}", "Origin": APP})
    assert refused.status_code == 401  # an authentic token: its partner is known, so its frontend reads the 401
    assert_allowed(refused, APP)
    unknown = client.get("/v1/users/u-1/sessions", headers={"Authorization": "Bearer sw_nope", "Origin": APP})
    assert unknown.status_code == 401 and cors_of(unknown) == {}  # no partner known: nothing to allow


def test_a_partner_without_origins_gets_no_cors_headers_and_no_vary(client, make_key):
    plain = {"Authorization": f"Bearer {make_key(ALL, name='no-origins')}"}
    for _ in range(2):
        answered = client.get("/v1/muscles", headers=plain | {"Origin": APP})
        assert cors_of(answered) == {} and "Origin" not in answered.headers.get("vary", "")


ORIGINS_AS_SENT = [
    ("https://app.example.com", "https://app.example.com"),
    ("HTTPS://App.Example.COM:443", "https://app.example.com"),
    ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
    ("http://localhost:80", "http://localhost"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("http://[0:0::1]", "http://[::1]"),
]
BAD_ORIGINS = [
    "https://app.example.com/",
    "https://app.example.com/path",
    "https://*.example.com",
    "*",
    "ftp://app.example.com",
    "app.example.com",
    "https://user:pw@app.example.com",
    "https://app.example.com:99999",
    "https://app.example.com?x=1",
    "https://app.example.com#top",
    "https://exämple.com",
    "https://-bad-.example.com",
    "http://[::zz]",
    "null",
]


@pytest.mark.parametrize(("given", "stored"), ORIGINS_AS_SENT)
def test_origins_are_normalised_as_browsers_send_them(given, stored):
    assert normalise_origin(given) == stored


@pytest.mark.parametrize("bad", BAD_ORIGINS)
def test_bad_origins_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError, match="origin|host|port|wildcard"):
        normalise_origin(bad)


def test_the_cli_stores_origins_as_browsers_send_them_and_lists_them(client, database_url, cli, make_key):
    make_key(ALL, name="acme")
    adds = [argument for given, _ in ORIGINS_AS_SENT for argument in ("--add", given)]
    added = cli(database_url, "partners", "origins", "acme", *adds)
    assert added.returncode == 0, added.stderr
    listed = cli(database_url, "partners", "list").stdout
    for _, stored in ORIGINS_AS_SENT:
        assert stored in added.stdout and f"origin {stored}" in listed


def test_the_cli_refuses_bad_origins_in_a_line_each_and_changes_nothing(client, database_url, cli, make_key):
    make_key(ALL, name="acme")
    assert cli(database_url, "partners", "origins", "acme", "--add", APP).returncode == 0
    refused = cli(database_url, "partners", "origins", "acme", "--add", BAD_ORIGINS[0], "--add", "*", "--remove", APP)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.count("stepwise: ") == 2 and "no path" in refused.stderr and "wildcard" in refused.stderr
    assert f"origin {APP}" in cli(database_url, "partners", "list").stdout  # the removal did not happen either


def test_origins_are_removed_and_unknown_partners_refused(client, database_url, cli, make_key):
    make_key(ALL, name="acme")
    cli(database_url, "partners", "origins", "acme", "--add", APP, "--add", OTHER)
    removed = cli(database_url, "partners", "origins", "acme", "--remove", APP)
    assert removed.returncode == 0 and OTHER in removed.stdout and APP not in removed.stdout
    unknown = cli(database_url, "partners", "origins", "nobody", "--add", APP)
    assert unknown.returncode == 1 and "no partner named 'nobody'" in unknown.stderr


def test_an_origin_added_by_the_cli_reaches_a_running_service_within_its_refresh(client, database_url, cli, make_key):
    headers = {"Authorization": f"Bearer {make_key(ALL, name='later')}", "Origin": APP}
    assert cors_of(client.get("/v1/muscles", headers=headers)) == {}
    assert cli(database_url, "partners", "origins", "later", "--add", APP).returncode == 0
    added_at = time.monotonic()
    while "access-control-allow-origin" not in client.get("/v1/muscles", headers=headers).headers:
        assert time.monotonic() - added_at < ORIGINS_REFRESH_SECONDS + 1.5, "the new origin never took effect"
        time.sleep(0.1)
    print(f"origin in effect {time.monotonic() - added_at:.1f} s after the CLI added it")
