"""The database routes' fast lanes answer exactly as the routes do.

Every request is sent twice for the same partner: once through a front door with no lanes (the
framework's route answers), with a key never seen before, and once through the app's own front
door (the lane answers when it can), with a key checked moments ago. The two answers must
match: status, body and headers.
"""

import socket
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest
from sqlmodel import Session

from app.frontdoor import FrontDoor
from app.partners import service as partners
from tests.factories import at, session_body

pytestmark = pytest.mark.through_pgbouncer
SCOPES = partners.parse_scopes("sessions:read,sessions:write")
# Headers both paths must give alike (x-request-id is random unless the client sends one).
COMPARED = ("content-type", "content-encoding", "vary", "idempotent-replayed")


@pytest.fixture
def new_key(app, fresh_partners) -> Callable[[], dict[str, str]]:
    """Keys of one partner: each call issues another, never used before."""
    with Session(app.state.engine) as session:
        partner = partners.create_partner(session=session, name=f"hot-{uuid.uuid4().hex[:8]}")
        session.commit()

    def issue() -> dict[str, str]:
        with Session(app.state.engine) as session:
            _, key = partners.issue_key(session=session, partner=session.merge(partner), scopes=SCOPES)
            session.commit()
        return {"Authorization": f"Bearer {key}"}

    return issue


@pytest.fixture
def both(app, client, new_key, hot):
    """send(method, url, **request) -> (the route's answer, the fast lane's answer)."""
    warm = new_key()
    assert client.get("/v1/users/warm-up/sessions", headers=warm).status_code == 200  # checks and caches it
    with_lanes, without_lanes = app.front_door, FrontDoor(app, {})

    def send(method: str, url: str, headers: dict[str, str] | None = None, **request):
        before = len(hot)
        app.front_door = without_lanes
        try:
            routed = client.request(method, url, headers=new_key() | (headers or {}), **request)
        finally:
            app.front_door = with_lanes
        assert len(hot) == before, "a request through a door without lanes was answered by a lane"
        # Checked again just before: the suite's app keeps a key for a second (key_cache_seconds).
        assert client.get("/v1/users/warm-up/sessions", headers=warm).status_code == 200
        fast = client.request(method, url, headers=warm | (headers or {}), **request)
        return routed, fast

    return send


def assert_alike(routed, fast, *, ignore: tuple[str, ...] = ()) -> None:
    assert fast.status_code == routed.status_code, (routed.text, fast.text)
    for name in COMPARED:
        assert fast.headers.get(name) == routed.headers.get(name), name
    routed_body, fast_body = routed.json(), fast.json()
    for field in ignore:
        routed_body.pop(field, None)
        fast_body.pop(field, None)
    assert fast_body == routed_body


def test_a_new_session_is_stored_alike(both, hot):
    body = session_body(leg_symptoms={"before": "above_knee", "after": "below_knee"})
    routed, fast = both("POST", "/v1/users/hot-1/sessions", json=body)
    assert fast.json()["leg_symptoms"] == body["leg_symptoms"] and fast.json()["assessment"]["leg_symptoms_spreading"]
    assert_alike(routed, fast, ignore=("id", "received_at"))
    assert hot == [("/v1/users/{user_id}/sessions", "POST", 201)]
    assert fast.headers["location"] == f"/v1/users/hot-1/sessions/{fast.json()['id']}"
    assert routed.headers["location"] == f"/v1/users/hot-1/sessions/{routed.json()['id']}"
    assert len(fast.headers["x-request-id"]) == 32


def test_repeats_and_clashes_of_a_client_session_id_are_answered_alike(both, hot):
    first = session_body(client_session_id="c-1")
    both("POST", "/v1/users/hot-2/sessions", json=first)  # stored by the route, repeated by the hot path
    routed, fast = both("POST", "/v1/users/hot-2/sessions", json=first)
    assert_alike(routed, fast)
    assert routed.status_code == 200 and routed.json() == fast.json()
    routed, fast = both("POST", "/v1/users/hot-2/sessions", json=session_body(client_session_id="c-1", rpe=9))
    assert_alike(routed, fast)
    assert routed.status_code == 409 and routed.headers["content-type"] == "application/problem+json"
    assert [status for *_, status in hot] == [200, 200, 409]


@pytest.mark.parametrize(
    "body",
    [
        session_body(exercise="no-such-exercise"),
        session_body(faults=["not_a_fault"]),
        session_body(red_flags=["not_a_flag"]),
    ],
    ids=["unknown-exercise", "unknown-fault", "unknown-red-flag"],
)
def test_what_the_catalogue_refuses_is_refused_alike(both, hot, body):
    routed, fast = both("POST", "/v1/users/hot-3/sessions", json=body)
    assert routed.status_code == 422
    assert_alike(routed, fast)
    assert [status for *_, status in hot] == [422]


@pytest.mark.parametrize(
    "request_",
    [
        {"json": session_body(rpe=11)},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b"x" * (1024 * 1024 + 1), "headers": {"Content-Type": "application/json"}},
        {"json": session_body(), "headers": {"Idempotency-Key": "k-1"}},
        {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
    ],
    ids=["invalid-field", "bad-json", "too-large", "idempotency-key", "wrong-media-type"],
)
def test_what_the_hot_path_does_not_take_goes_to_the_route(both, hot, request_):
    routed, fast = both("POST", "/v1/users/hot-4/sessions", **request_)
    assert hot == []
    assert fast.status_code == routed.status_code
    if routed.status_code >= 400:
        assert fast.json() == routed.json()


def test_recommendations_are_answered_alike(both, hot):
    for minutes in (0, 24 * 60):
        both("POST", "/v1/users/hot-5/sessions", json=session_body(performed_at=at(minutes), faults=[]))
    hot.clear()
    query = {"progression": "lunge-ladder", "as_of": at(3 * 24 * 60)}
    routed, fast = both("GET", "/v1/users/hot-5/recommendation", params=query)
    assert routed.status_code == 200
    assert_alike(routed, fast)
    routed, fast = both("GET", "/v1/users/hot-5/recommendation", params=query, headers={"Accept-Encoding": "gzip"})
    assert fast.headers.get("content-encoding") == routed.headers.get("content-encoding")
    assert_alike(routed, fast)
    routed, fast = both("GET", "/v1/users/hot-5/recommendation", params={"progression": "no-such-ladder"})
    assert routed.status_code == 404
    assert_alike(routed, fast)
    assert [status for *_, status in hot] == [200, 200, 404]


def test_large_answers_are_compressed_alike(both, hot):
    """An answer of 1 KiB or more is gzipped for a client that accepts it, on both paths."""
    long_notes = session_body(notes="felt steady on both sides " * 36)
    routed, fast = both("POST", "/v1/users/hot-6/sessions", json=long_notes, headers={"Accept-Encoding": "gzip"})
    assert len(routed.content) >= 1024 and hot == [("/v1/users/{user_id}/sessions", "POST", 201)]
    assert routed.headers["content-encoding"] == fast.headers["content-encoding"] == "gzip"
    assert_alike(routed, fast, ignore=("id", "received_at"))
    routed, fast = both("POST", "/v1/users/hot-6/sessions", json=long_notes, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in routed.headers and "content-encoding" not in fast.headers
    assert_alike(routed, fast, ignore=("id", "received_at"))


@pytest.mark.parametrize(
    "query",
    [
        {"progression": "lunge-ladder", "as_of": "yesterday"},
        {},
        {"progression": ""},
        [("progression", "lunge-ladder"), ("progression", "lunge-ladder")],
    ],
    ids=["bad-as-of", "no-progression", "empty-progression", "repeated"],
)
def test_queries_the_hot_path_does_not_take_go_to_the_route(both, hot, query):
    routed, fast = both("GET", "/v1/users/hot-7/recommendation", params=query)
    assert hot == []
    assert fast.status_code == routed.status_code
    routed_body, fast_body = routed.json(), fast.json()
    if routed.status_code == 200:  # `as_of` defaults to the moment of asking
        routed_body.pop("as_of"), fast_body.pop("as_of")
    assert fast_body == routed_body


def test_a_path_ending_in_a_newline_is_answered_alike_with_a_clean_location(both, hot):
    routed, fast = both("POST", "/v1/users/hot-8/sessions%0A", json=session_body())
    assert_alike(routed, fast, ignore=("id", "received_at"))
    for answer in (routed, fast):
        if answer.status_code == 201:
            assert answer.headers["location"] == f"/v1/users/hot-8/sessions/{answer.json()['id']}"


def test_a_repeated_header_counts_by_its_first_value_on_both_paths(client, new_key, hot):
    warm = new_key()
    client.get("/v1/users/warm-up/sessions", headers=warm)
    body = orjson.dumps(session_body())
    media_types = [("Content-Type", "text/plain"), ("Content-Type", "application/json")]
    assert (
        client.post("/v1/users/hot-9/sessions", content=body, headers=[*warm.items(), *media_types]).status_code == 415
    )
    keys = [("Authorization", "Bearer sw_not-a-key"), *warm.items(), ("Content-Type", "application/json")]
    assert client.post("/v1/users/hot-9/sessions", content=body, headers=keys).status_code == 401
    assert hot == []


def test_a_client_gone_before_its_body_ended_stores_nothing(live_server, new_key):
    """A whole JSON document but one byte short of the declared length, then the connection
    closes: the body never ended, so nothing is stored (as on the route)."""
    warm = new_key()
    assert httpx.get(f"{live_server}/v1/users/warm-up/sessions", headers=warm).status_code == 200
    body = orjson.dumps(session_body())
    port = int(live_server.rsplit(":", 1)[1])
    request = (
        f"POST /v1/users/hot-10/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {warm['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(request + body)
    time.sleep(0.5)
    listed = httpx.get(f"{live_server}/v1/users/hot-10/sessions", headers=warm).json()
    assert listed["items"] == []
