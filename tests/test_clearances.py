"""Clearances: recorded with a partner's API key (a person cannot clear themselves), listed newest
first, safe to retry, private to their partner, refused whole when they break the contract, and
covering only the red flags that had arrived when they were recorded."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import session_body

pytestmark = pytest.mark.through_pgbouncer

ALL = "catalogue:read,sessions:read,sessions:write"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def key(make_key) -> str:
    return make_key(ALL)


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def record(client, key, user="u-1", **body):
    return client.post(f"/v1/users/{user}/clearances", json={"cleared_at": ago(hours=1)} | body, headers=bearer(key))


def test_a_clearance_is_recorded_and_answered_with_its_location(client, key):
    cleared_at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    response = record(client, key, cleared_at="2026-11-30T10:15:00+01:00", note="Seen by Dr Okafor.")
    assert response.status_code == 201, response.text
    stored = response.json()
    assert set(stored) == {"id", "user_id", "cleared_at", "received_at", "note"}
    assert (stored["user_id"], stored["cleared_at"], stored["note"]) == (
        "u-1",
        cleared_at.isoformat().replace("+00:00", "Z"),
        "Seen by Dr Okafor.",
    )
    assert datetime.fromisoformat(stored["received_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert response.headers["location"] == f"/v1/users/u-1/clearances/{stored['id']}"
    assert client.get(response.headers["location"], headers=bearer(key)).json() == stored


def test_clearances_are_listed_newest_first_in_pages(client, key):
    made = [record(client, key, cleared_at=ago(days=day)).json() for day in (5, 1, 3)]
    first = client.get("/v1/users/u-1/clearances?limit=2", headers=bearer(key))
    assert [c["id"] for c in first.json()["items"]] == [made[1]["id"], made[2]["id"]]
    assert 'rel="next"' in first.headers["link"]
    rest = client.get(f"/v1/users/u-1/clearances?limit=2&cursor={first.json()['next_cursor']}", headers=bearer(key))
    assert [c["id"] for c in rest.json()["items"]] == [made[0]["id"]] and rest.json()["next_cursor"] is None


def test_a_user_token_cannot_record_a_clearance_but_may_read_its_own(client, key):
    minted = client.post("/v1/users/u-1/tokens", json={"scopes": ALL.split(",")}, headers=bearer(key)).json()
    refused = record(client, minted["token"])
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/users/u-1/clearances", headers=bearer(key)).json()["items"] == []
    record(client, key)
    assert len(client.get("/v1/users/u-1/clearances", headers=bearer(minted["token"])).json()["items"]) == 1
    assert client.get("/v1/users/u-2/clearances", headers=bearer(minted["token"])).status_code == 403


def test_scopes(client, make_key):
    reader = make_key("sessions:read")
    assert record(client, reader).status_code == 403
    assert client.get("/v1/users/u-1/clearances", headers=bearer(reader)).status_code == 200
    assert client.get("/v1/users/u-1/clearances", headers=bearer(make_key("catalogue:read"))).status_code == 403
    assert client.get("/v1/users/u-1/clearances").status_code == 401


def test_a_retry_with_the_same_idempotency_key_answers_the_first_and_stores_once(client, key):
    body = {"cleared_at": ago(hours=2)}
    headers = bearer(key) | {"Idempotency-Key": "clear-1"}
    first = client.post("/v1/users/u-1/clearances", json=body, headers=headers)
    again = client.post("/v1/users/u-1/clearances", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201) and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    other = client.post("/v1/users/u-1/clearances", json={"cleared_at": ago(hours=3)}, headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert len(client.get("/v1/users/u-1/clearances", headers=bearer(key)).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cleared_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "cleared_at"),
        ({"cleared_at": "2026-11-30T10:15:00"}, "cleared_at"),  # no offset
        ({"cleared_at": "yesterday"}, "cleared_at"),
        ({"cleared_at": "2026-02-30T10:15:00Z"}, "cleared_at"),
        ({}, "cleared_at"),
        ({"cleared_at": "2026-11-30T10:15:00Z", "note": "x" * 1001}, "note"),
        ({"cleared_at": "2026-11-30T10:15:00Z", "by": "me"}, "by"),
    ],
)
def test_a_clearance_that_breaks_the_contract_is_422_naming_the_field_and_stores_nothing(client, key, body, field):
    response = client.post("/v1/users/u-1/clearances", json=body, headers=bearer(key))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][:2] == ["body", field]
    assert client.get("/v1/users/u-1/clearances", headers=bearer(key)).json()["items"] == []


def test_another_partner_sees_no_clearance_and_cannot_clear_for_this_one(client, key, make_key):
    stored = record(client, key).json()
    theirs = make_key(ALL)
    assert client.get(f"/v1/users/u-1/clearances/{stored['id']}", headers=bearer(theirs)).status_code == 404
    assert client.get("/v1/users/u-1/clearances", headers=bearer(theirs)).json()["items"] == []
    # Their clearance of their own "u-1" does not clear our u-1's red flag.
    flagged = session_body(performed_at=ago(hours=5), red_flags=["constant_night_pain"])
    client.post("/v1/users/u-1/sessions", json=flagged, headers=bearer(key))
    record(client, theirs)
    answer = client.get("/v1/users/u-1/recommendation?progression=lunge-ladder", headers=bearer(key)).json()
    assert answer["reasons"][0]["code"] == "red_flag"


def test_a_flag_that_arrives_after_the_clearance_was_recorded_needs_a_new_one(client, key):
    recommendation = "/v1/users/u-1/recommendation?progression=lunge-ladder"
    before_the_visit = ago(hours=6)
    client.post("/v1/users/u-1/sessions", json=session_body(performed_at=ago(days=2)), headers=bearer(key))
    record(client, key, cleared_at=ago(hours=1))
    # Back-filled: done before the clinician's visit, logged after the clearance was recorded.
    late = session_body(performed_at=before_the_visit, red_flags=["fever_or_unwell"])
    flagged = client.post("/v1/users/u-1/sessions", json=late, headers=bearer(key)).json()
    answer = client.get(recommendation, headers=bearer(key)).json()
    assert (answer["action"], answer["reasons"][0]["session_ids"]) == ("pause", [flagged["id"]])
    assert "doctor today" in answer["reasons"][0]["message"]
    record(client, key, cleared_at=ago(minutes=1))
    assert client.get(recommendation, headers=bearer(key)).json()["action"] != "pause"


def test_evaluate_takes_clearances_and_received_times(client, key):
    flagged = session_body(performed_at="2026-11-20T08:00:00Z", red_flags=["saddle_numbness"], id="f")
    body = {"progression": "lunge-ladder", "as_of": "2026-11-22T08:00:00Z", "sessions": [flagged]}
    paused = client.post("/v1/recommendations/evaluate", json=body, headers=bearer(key)).json()
    assert (paused["action"], paused["reasons"][0]["session_ids"]) == ("pause", ["f"])
    covered = body | {"clearances": [{"cleared_at": "2026-11-21T08:00:00Z"}]}
    assert client.post("/v1/recommendations/evaluate", json=covered, headers=bearer(key)).json()["action"] != "pause"
    # Received after the clearance was recorded: not covered.
    late = body | {
        "sessions": [flagged | {"received_at": "2026-11-21T09:00:00Z"}],
        "clearances": [{"cleared_at": "2026-11-21T08:00:00Z", "recorded_at": "2026-11-21T08:30:00Z"}],
    }
    assert client.post("/v1/recommendations/evaluate", json=late, headers=bearer(key)).json()["action"] == "pause"


@pytest.mark.parametrize(
    ("clearances", "loc"),
    [
        ([{"cleared_at": "2026-11-21T08:00:00Z"}] * 101, ["body", "clearances"]),
        (
            [{"cleared_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}],
            ["body", "clearances", 0, "cleared_at"],
        ),
        ([{"cleared_at": "2026-11-21T08:00:00Z", "recorded_at": "soon"}], ["body", "clearances", 0, "recorded_at"]),
        ([{"cleared_at": "2026-11-21T08:00:00Z", "clinician": "x"}], ["body", "clearances", 0, "clinician"]),
    ],
)
def test_evaluate_refuses_bad_clearances_naming_the_field(client, key, clearances, loc):
    body = {"progression": "lunge-ladder", "sessions": [], "clearances": clearances}
    response = client.post("/v1/recommendations/evaluate", json=body, headers=bearer(key))
    assert response.status_code == 422 and response.json()["errors"][0]["loc"][: len(loc)] == loc


@pytest.mark.parametrize("path", ["/v1/users/u-1/clearances", "/v1/users/u-1/sessions"])
def test_a_cursor_holding_a_time_without_an_offset_is_422(client, key, path):
    """Only cursors the service issued are taken: they always hold the time's offset."""
    naive = "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMV0"  # ["2026-01-01T00:00:00", 1]
    response = client.get(f"{path}?cursor={naive}", headers=bearer(key))
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "cursor"]
