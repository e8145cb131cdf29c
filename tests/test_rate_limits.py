"""Rate limits: a quota per partner on every path (catalogue fast path, hot paths, framework),
`evaluate` charged by size, a budget of failed authentications per client address, 429 with
`Retry-After` and the IETF `RateLimit` fields, and one budget across replicas through Redis."""

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.main import create_app
from app.partners import service as partners
from app.settings import Settings
from tests import redis_server
from tests.factories import at, session_body

ALL_SCOPES = "catalogue:read,sessions:read,sessions:write"
pytestmark = pytest.mark.usefixtures("clear_of_a_window_boundary")


@contextmanager
def replica(database_url: str, **settings) -> Iterator[TestClient]:
    """An app of its own (its own memory: key cache, counts) on the shared test database."""
    app = create_app(Settings(database_url=database_url, **settings))
    with TestClient(app) as client:
        yield client


def new_key(client: TestClient, name: str | None = None) -> dict[str, str]:
    """Headers with the key of a new partner (named `name`, or a made-up name)."""
    with Session(client.app.state.engine) as session:
        partner = partners.create_partner(session=session, name=name or f"limited-{partners.secrets.token_hex(6)}")
        _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(ALL_SCOPES))
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def assert_refused(answer, policy: str, quota: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 429 and str(quota) in answer.json()["detail"]
    wait = int(answer.headers["retry-after"])
    assert 1 <= wait <= 60
    assert answer.headers["ratelimit-policy"] == f'"{policy}";q={quota};w=60'
    assert re.fullmatch(rf'"{policy}";r=0;t=\d+', answer.headers["ratelimit"])


def mixed_requests(headers: dict[str, str]) -> list[Callable[[TestClient], object]]:
    """One request of each path: catalogue (fast path once the key is cached), session post and
    recommendation read (hot paths), session list (framework)."""
    return [
        lambda c: c.get("/v1/progressions/lunge-ladder", headers=headers),
        lambda c: c.post("/v1/users/limited/sessions", json=session_body(faults=[]), headers=headers),
        lambda c: c.get("/v1/users/limited/recommendation?progression=lunge-ladder", headers=headers),
        lambda c: c.get("/v1/users/limited/sessions", headers=headers),
    ]


def test_every_path_counts_against_the_partner_s_quota(database_url, fresh_partners):
    with replica(database_url, rate_limit_per_minute=9) as client:
        headers = new_key(client)
        statuses = [request(client).status_code for _ in range(3) for request in mixed_requests(headers)]
        assert statuses[:9] == [200, 201, 200, 200] * 2 + [200]
        assert statuses[9:] == [429, 429, 429]
        for request in mixed_requests(headers):  # refused on each path alike
            assert_refused(request(client), "partner", 9)
        other = new_key(client)  # another partner's budget is its own
        assert client.get("/v1/progressions/lunge-ladder", headers=other).status_code == 200


def test_a_partner_s_own_quota_set_from_the_cli_replaces_the_default(database_url, fresh_partners, cli):
    with replica(database_url, rate_limit_per_minute=100, key_cache_seconds=0) as client:
        name = "own-quota"
        headers = new_key(client, name)
        assert client.get("/v1/muscles", headers=headers).status_code == 200
        result = cli(database_url, "partners", "set-rate-limit", name, "3")
        assert result.returncode == 0, result.stderr
        statuses = [client.get("/v1/muscles", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert_refused(client.get("/v1/muscles", headers=headers), "partner", 3)
        assert cli(database_url, "partners", "set-rate-limit", name, "default").returncode == 0
        assert client.get("/v1/muscles", headers=headers).status_code == 200
        bad = cli(database_url, "partners", "set-rate-limit", name, "lots")
        assert bad.returncode != 0 and "whole number" in bad.stderr


def test_evaluate_is_charged_by_its_size(database_url, fresh_partners):
    sessions = [session_body(faults=[], performed_at=at(-21 * 60 * n)) for n in range(250)]
    body = {"progression": "lunge-ladder", "sessions": sessions}
    with replica(database_url, rate_limit_per_minute=7) as client:
        headers = new_key(client)
        assert client.post("/v1/recommendations/evaluate", json=body, headers=headers).status_code == 200  # 1 + 2
        assert client.post("/v1/recommendations/evaluate", json=body, headers=headers).status_code == 200  # 6
        # The request itself is charged (7 of 7), its 2 for size no longer fit:
        assert_refused(client.post("/v1/recommendations/evaluate", json=body, headers=headers), "partner", 7)
    with replica(database_url, rate_limit_per_minute=7) as client:
        headers = new_key(client)
        small = {"progression": "lunge-ladder", "sessions": sessions[:99]}
        statuses = [
            client.post("/v1/recommendations/evaluate", json=small, headers=headers).status_code for _ in range(8)
        ]
        assert statuses == [200] * 7 + [429]  # under 100 sessions, 1 each


def test_failed_authentication_is_limited_per_client_address(database_url, fresh_partners):
    with replica(database_url, auth_failures_per_minute=3) as client:
        good = new_key(client)
        assert client.get("/v1/muscles", headers=good).status_code == 200  # checked and cached
        for _ in range(5):
            assert client.get("/v1/muscles").status_code == 401  # no key at all: not a guess, not counted
        for n in range(3):
            assert client.get("/v1/muscles", headers={"Authorization": f"Bearer sw_guess-{n}"}).status_code == 401
        refused = client.get("/v1/muscles", headers={"Authorization": "Bearer sw_guess-3"})
        assert_refused(refused, "auth-failures", 3)
        assert client.get("/v1/muscles", headers=good).status_code == 200  # a key already checked goes on


def test_a_key_found_valid_lately_is_not_locked_out_by_guesses_from_its_address(database_url, fresh_partners):
    """Past its cache time, a key found valid within the stale limit is looked up again rather
    than refused, however many guesses came from the same address (a shared proxy, say)."""
    with replica(database_url, auth_failures_per_minute=2, key_cache_seconds=0.2) as client:
        good = new_key(client)
        assert client.get("/v1/muscles", headers=good).status_code == 200
        for n in range(3):
            client.get("/v1/muscles", headers={"Authorization": f"Bearer sw_guess-{n}"})
        time.sleep(0.3)  # the good key is no longer fresh in the cache
        assert client.get("/v1/muscles", headers=good).status_code == 200
        assert client.get("/v1/muscles", headers=new_key(client)).status_code == 429  # never seen: refused


def test_a_session_the_hot_path_hands_on_is_charged_once(database_url, fresh_partners):
    with replica(database_url, rate_limit_per_minute=5) as client:
        headers = new_key(client)
        assert client.get("/v1/users/once/sessions", headers=headers).status_code == 200  # the key is cached
        invalid = {"exercise": "reverse-lunge"}
        statuses = [client.post("/v1/users/once/sessions", json=invalid, headers=headers).status_code for _ in range(5)]
        assert statuses == [422, 422, 422, 422, 429]


@pytest.fixture
def uses_redis(record_property) -> None:
    record_property("uses", "redis")  # for the run's "backends:" line


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    problem = redis_server.available()
    if problem:
        if redis_server.in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    with redis_server.redis_server() as url:
        yield url


def test_replicas_sharing_redis_share_one_budget(database_url, fresh_partners, redis_url, uses_redis):
    """Two app instances on one Redis: a burst spread over both gets the quota once, in total,
    on the fast path and the hot paths alike; without Redis each replica would count alone."""
    quota = 10
    with (
        replica(database_url, rate_limit_per_minute=quota, redis_url=redis_url) as first,
        replica(database_url, rate_limit_per_minute=quota, redis_url=redis_url) as second,
    ):
        headers = new_key(first)
        requests = mixed_requests(headers)
        statuses = [requests[n % 4](first if n % 2 else second).status_code for n in range(2 * quota)]
        assert sum(status < 400 for status in statuses) == quota, statuses
        assert statuses[quota:] == [429] * quota
        assert_refused(first.get("/v1/muscles", headers=headers), "partner", quota)
        assert_refused(second.get("/v1/muscles", headers=headers), "partner", quota)
    with (
        replica(database_url, rate_limit_per_minute=quota) as first,
        replica(database_url, rate_limit_per_minute=quota) as second,
    ):
        headers = new_key(first)
        statuses = [(first if n % 2 else second).get("/v1/muscles", headers=headers).status_code for n in range(20)]
        assert statuses == [200] * 20  # in memory: each replica's own 10


def test_an_unreachable_redis_counts_in_memory_at_the_replicas_share(database_url, fresh_partners):
    from tests.factories import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    with replica(database_url, rate_limit_per_minute=4, redis_url=dead, replicas=2) as client:
        headers = new_key(client)
        statuses = [client.get("/v1/muscles", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]  # this replica's half of 4


def test_a_hung_redis_costs_a_request_little_and_quotas_and_budgets_hold(database_url, fresh_partners):
    """A server that accepts connections and never answers (a Redis stopped or wedged): each
    request gets at most the 50 ms timeout once, then the breaker sends the counting to memory."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # connections complete; nothing is ever read or answered
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        with replica(database_url, rate_limit_per_minute=10, auth_failures_per_minute=3, redis_url=url) as client:
            headers = new_key(client)
            timings, statuses = [], []
            for _ in range(14):
                started = time.perf_counter()
                statuses.append(client.get("/v1/muscles", headers=headers).status_code)
                timings.append(time.perf_counter() - started)
            assert statuses == [200] * 10 + [429] * 4
            timings.sort()
            assert timings[int(len(timings) * 0.95) - 1] < 0.25, timings
            guesses = [client.get("/v1/muscles", headers={"Authorization": f"Bearer sw_guess-{n}"}) for n in range(4)]
            assert [answer.status_code for answer in guesses] == [401, 401, 401, 429]


def test_every_answer_that_counts_says_how_much_of_the_quota_is_left(database_url, fresh_partners):
    """`RateLimit-Policy` and `RateLimit` (IETF httpapi draft) on every answer charged to the
    partner, from the catalogue's fast path, the hot paths and the framework alike, counting
    down one per request; none on an answer that did not count (no key, health)."""
    quota = 50
    with replica(database_url, rate_limit_per_minute=quota) as client:
        headers = new_key(client)
        answers = [request(client) for request in mixed_requests(headers) * 3]
        assert all(answer.status_code < 400 for answer in answers), [a.status_code for a in answers]
        assert {answer.headers["ratelimit-policy"] for answer in answers} == {f'"partner";q={quota};w=60'}
        left = []
        for answer in answers:
            found = re.fullmatch(r'"partner";r=(\d+);t=(\d+)', answer.headers["ratelimit"])
            assert found is not None and 1 <= int(found[2]) <= 60
            left.append(int(found[1]))
        assert left == list(range(quota - 1, quota - 1 - len(answers), -1))
        assert "ratelimit" not in client.get("/v1/muscles").headers  # no key: a 401, not charged
        assert "ratelimit" not in client.get("/healthz").headers
        refused = None
        for _ in range(quota):
            refused = client.get("/v1/muscles", headers=headers)
            if refused.status_code == 429:
                break
        assert refused is not None and refused.headers["ratelimit"].startswith('"partner";r=0;')
