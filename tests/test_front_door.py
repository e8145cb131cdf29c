"""One front door: every request is authorised once, before any fast lane or route, by the
same checks (`app.dependencies.CHECKS`), and charged once to its partner's quota."""

import pytest

from app import dependencies
from app.errors import Forbidden
from tests.factories import at, session_body

SCOPES = "catalogue:read,sessions:read,sessions:write"
ONE_EXERCISE = "/v1/exercises/reverse-lunge"
SESSIONS = "/v1/users/door-1/sessions"
RECOMMENDATION = "/v1/users/door-1/recommendation?progression=lunge-ladder"


def lane_requests(client, headers):
    """One request for each fast lane, and two the framework answers; their answers in order."""
    return [
        client.get(ONE_EXERCISE, headers=headers),
        client.post(SESSIONS, json=session_body(performed_at=at(0)), headers=headers),
        client.get(RECOMMENDATION, headers=headers),
        client.get(SESSIONS, headers=headers),  # a route without a lane
        client.post(SESSIONS, json=session_body(performed_at=at(60)), headers=headers | {"Idempotency-Key": "d-1"}),
    ]


def test_a_check_added_to_the_scope_dependency_holds_on_every_lane(client, auth, hot, monkeypatch):
    headers = auth(SCOPES)
    answers = lane_requests(client, headers)
    assert [answer.status_code for answer in answers] == [200, 201, 200, 200, 201]
    answers = lane_requests(client, headers)  # the catalogue answer is cached now: every lane answers
    assert [status for *_, status in hot[-3:]] == [200, 201, 200]
    assert [route for route, *_ in hot[-3:]] == [
        "/v1/exercises/{slug}",
        "/v1/users/{user_id}/sessions",
        "/v1/users/{user_id}/recommendation",
    ]
    stored = client.get(SESSIONS, headers=headers).json()["items"]

    def closed_for_maintenance(caller, requirement, path_params):
        raise Forbidden(f"Closed for {requirement.scope} (partner {caller.partner_id}).")

    monkeypatch.setattr(dependencies, "CHECKS", [*dependencies.CHECKS, closed_for_maintenance])
    answered_before = len(hot)
    refused = lane_requests(client, headers)
    assert [answer.status_code for answer in refused] == [403] * 5
    assert [answer.json()["detail"].split(" (")[0] for answer in refused] == [
        "Closed for catalogue:read",
        "Closed for sessions:write",
        "Closed for sessions:read",
        "Closed for sessions:read",
        "Closed for sessions:write",
    ]
    assert all(answer.headers["content-type"] == "application/problem+json" for answer in refused)
    assert len(hot) == answered_before, "a lane answered a refused request"
    monkeypatch.undo()
    assert client.get(SESSIONS, headers=headers).json()["items"] == stored  # nothing refused was stored


@pytest.fixture
def charges(app, monkeypatch) -> list[int]:
    """The partner ids charged, one entry per charge."""
    charged: list[int] = []
    charge = app.state.limits.charge

    async def counting(caller, cost=1):
        charged.append(caller.partner_id)
        await charge(caller, cost)

    monkeypatch.setattr(app.state.limits, "charge", counting)
    return charged


def test_each_request_is_charged_once_whichever_way_it_is_answered(client, auth, charges):
    headers = auth(SCOPES)
    client.get(ONE_EXERCISE, headers=headers)  # cached from here on
    charges.clear()
    answers = lane_requests(client, headers)
    assert [answer.status_code for answer in answers] == [200, 201, 200, 200, 201]
    assert len(charges) == len(answers) and len(set(charges)) == 1
    charges.clear()
    # Declined by its lane (a field the model refuses) and answered by the route: still once.
    assert client.post(SESSIONS, json=session_body(rpe=11), headers=headers).status_code == 422
    assert len(charges) == 1


def test_a_refused_credential_is_refused_before_any_lane(client, hot):
    for method, url in (("GET", ONE_EXERCISE), ("POST", SESSIONS), ("GET", RECOMMENDATION)):
        answer = client.request(method, url, json=session_body(), headers={"Authorization": "Bearer sw_no-such-key"})
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert hot == []
