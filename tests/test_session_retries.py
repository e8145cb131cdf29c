"""Retries are safe: Idempotency-Key, client_session_id, and batches judged item by item."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from app.idempotency.tables import IdempotencyRecord
from app.sessions.schemas import BatchOut, SessionOut
from app.sessions.tables import SessionRow
from tests.factories import at, session_body

# The PostgreSQL half runs once more through pgbouncer (transaction pooling): see conftest.
pytestmark = pytest.mark.through_pgbouncer

WRITE = "sessions:read,sessions:write"


@pytest.fixture
def headers(auth):
    return auth(WRITE)


def count_sessions(app, user=None) -> int:
    with Session(app.state.engine) as s:
        query = select(func.count()).select_from(SessionRow)
        if user:
            query = query.where(SessionRow.user_id == user)
        return s.execute(query).scalar_one()


def test_retry_with_same_idempotency_key_returns_first_answer(client, headers, app):
    key = {"Idempotency-Key": "retry-1"}
    first = client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key)
    again = client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert count_sessions(app, "u1") == 1


def test_same_idempotency_key_with_another_body_is_422(client, headers, app):
    key = {"Idempotency-Key": "retry-2"}
    assert client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key).status_code == 201
    other = client.post("/v1/users/u1/sessions", json=session_body(rpe=2), headers=headers | key)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    elsewhere = client.post("/v1/users/u2/sessions", json=session_body(), headers=headers | key)
    assert elsewhere.status_code == 422
    assert count_sessions(app) == 1


def test_idempotency_key_longer_than_255_is_422(client, headers):
    response = client.post(
        "/v1/users/u1/sessions", json=session_body(), headers=headers | {"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_a_refused_request_is_the_first_answer_for_its_key(client, headers, app):
    key = {"Idempotency-Key": "after-refusal"}
    first = client.post("/v1/users/u1/sessions", json=session_body(exercise="nope"), headers=headers | key)
    assert first.status_code == 422 and first.headers["content-type"] == "application/problem+json"
    again = client.post("/v1/users/u1/sessions", json=session_body(exercise="nope"), headers=headers | key)
    assert (
        again.status_code == 422 and again.content == first.content and again.headers["idempotent-replayed"] == "true"
    )
    other = client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key)
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count_sessions(app) == 0


def test_a_conflict_is_replayed_and_stores_nothing(client, headers, app):
    client.post("/v1/users/u1/sessions", json=session_body(client_session_id="c"), headers=headers)
    key = {"Idempotency-Key": "conflict"}
    first = client.post("/v1/users/u1/sessions", json=session_body(client_session_id="c", rpe=1), headers=headers | key)
    again = client.post("/v1/users/u1/sessions", json=session_body(client_session_id="c", rpe=1), headers=headers | key)
    assert first.status_code == again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
    assert count_sessions(app) == 1


def test_a_malformed_request_leaves_its_key_unused(client, headers):
    key = {"Idempotency-Key": "after-malformed"}
    assert client.post("/v1/users/u1/sessions", json=session_body(rpe=99), headers=headers | key).status_code == 422
    assert client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key).status_code == 201


def test_expired_keys_are_purged_and_reusable(client, headers, app):
    from app.idempotency.service import purge_expired

    key = {"Idempotency-Key": "old"}
    assert client.post("/v1/users/u1/sessions", json=session_body(), headers=headers | key).status_code == 201
    with Session(app.state.engine) as s:
        s.execute(update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    fresh = client.post("/v1/users/u1/sessions", json=session_body(rpe=1), headers=headers | key)
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    with Session(app.state.engine) as s:
        s.execute(update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert purge_expired(connection=s.connection()) == 1
        s.commit()
        assert s.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one() == 0


def test_client_session_id_same_content_is_200_with_the_stored_session(client, headers, app):
    body = session_body(client_session_id="c-1")
    first = client.post("/v1/users/u1/sessions", json=body, headers=headers)
    again = client.post("/v1/users/u1/sessions", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert count_sessions(app, "u1") == 1


def test_client_session_id_with_other_content_is_409(client, headers, app):
    client.post("/v1/users/u1/sessions", json=session_body(client_session_id="c-1"), headers=headers)
    clash = client.post("/v1/users/u1/sessions", json=session_body(client_session_id="c-1", rpe=1), headers=headers)
    assert clash.status_code == 409 and clash.headers["content-type"] == "application/problem+json"
    other_user = client.post(
        "/v1/users/u2/sessions", json=session_body(client_session_id="c-1", rpe=1), headers=headers
    )
    assert other_user.status_code == 201
    assert count_sessions(app) == 2


def test_same_performed_at_in_another_offset_is_the_same_content(client, headers):
    client.post(
        "/v1/users/u1/sessions",
        json=session_body(client_session_id="tz", performed_at="2026-11-20T07:30:00+01:00"),
        headers=headers,
    )
    again = client.post(
        "/v1/users/u1/sessions",
        json=session_body(client_session_id="tz", performed_at="2026-11-20T06:30:00Z"),
        headers=headers,
    )
    assert again.status_code == 200


def batch_item(user: str, **changes):
    return {"user_id": user, **session_body(**changes)}


def test_batch_judges_each_item_on_its_own(client, headers, app):
    items = [
        batch_item("a", client_session_id="a1"),
        batch_item("a", exercise="moonwalk"),
        batch_item("b", client_session_id="b1", pain={"during": 12}),
        batch_item("b", client_session_id="b2"),
        {"user_id": "bad user", **session_body()},
        batch_item("a", client_session_id="a1"),  # duplicate of item 0, same content
        batch_item("a", client_session_id="a1", rpe=0),  # duplicate of item 0, other content
    ]
    response = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers)
    assert response.status_code == 200
    BatchOut.model_validate(response.json())  # the documented shape
    for result in response.json()["results"]:
        if "session" in result:
            assert SessionOut.model_validate(result["session"]).model_dump(mode="json") == result["session"]
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [201, 422, 422, 201, 422, 200, 409]
    assert results[1]["problem"]["errors"][0]["loc"] == ["body", "sessions", 1, "exercise"]
    assert results[2]["problem"]["errors"][0]["loc"] == ["body", "sessions", 2, "pain", "during"]
    assert results[4]["problem"]["errors"][0]["loc"] == ["body", "sessions", 4, "user_id"]
    assert results[5]["session"] == results[0]["session"]
    assert results[6]["problem"]["status"] == 409 and "session" not in results[6]
    assert count_sessions(app) == 2


@pytest.mark.parametrize("not_an_object", ["a string", 7, None, [batch_item("a")]])
def test_an_item_that_is_not_an_object_refuses_the_whole_batch(client, headers, app, not_an_object):
    items = [batch_item("a", client_session_id="a1"), not_an_object, batch_item("b")]
    response = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "sessions", 1]]
    assert count_sessions(app) == 0


def test_batch_items_count_as_received_in_their_order(client, headers):
    items = [batch_item("a", performed_at=at(0), notes=str(i)) for i in range(5)]
    client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers)
    listed = client.get("/v1/users/a/sessions", headers=headers).json()["items"]
    assert [s["notes"] for s in listed] == ["4", "3", "2", "1", "0"]  # newest first: last received first


def test_retrying_a_whole_batch_stores_nothing_twice(client, headers, app):
    items = [batch_item(f"user-{i % 3}", client_session_id=f"c{i}", performed_at=at(i)) for i in range(30)]
    first = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    again = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    assert {r["status"] for r in first} == {201} and {r["status"] for r in again} == {200}
    assert [r["session"] for r in again] == [r["session"] for r in first]
    assert count_sessions(app) == 30


def test_batch_with_idempotency_key_replays(client, headers, app):
    items = [batch_item("a", performed_at=at(i)) for i in range(3)]  # no client ids: only the key protects them
    key = {"Idempotency-Key": "batch-1"}
    first = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers | key)
    again = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers | key)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert count_sessions(app) == 3


@pytest.mark.parametrize("sessions", [[], [batch_item("a")] * 501, "nope", None])
def test_batch_size_outside_1_to_500_is_422(client, headers, sessions, app):
    response = client.post("/v1/sessions/batch", json={"sessions": sessions}, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"][:2] == ["body", "sessions"]
    assert count_sessions(app) == 0


def test_batch_body_over_eight_mib_is_413(client, headers):
    padded = b'{"sessions": [], "pad": "' + b" " * (8 * 1024 * 1024) + b'"}'
    response = client.post("/v1/sessions/batch", content=padded, headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 413


def test_batch_between_one_and_eight_mib_is_read(client, headers):
    items = [batch_item("a", notes="n" * 1000, performed_at=at(i)) for i in range(500)]
    response = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers)
    assert response.status_code == 200 and len(response.json()["results"]) == 500


def test_a_large_batch_keeps_every_character_of_its_text(client, headers):
    awkward = ["tab\there", "line\nbreak", "back\\slash \\N", "quote \" and 'single'", "ünïcødé ✓ 🦵", "\\.", "cr\r"]
    items = [
        batch_item("text-user", client_session_id=f"t{i}\t{i}", notes=awkward[i % len(awkward)], performed_at=at(i))
        for i in range(40)
    ]
    results = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    assert {r["status"] for r in results} == {201}
    stored, _ = {}, None
    url = "/v1/users/text-user/sessions?limit=100"
    for s in client.get(url, headers=headers).json()["items"]:
        stored[s["client_session_id"]] = s["notes"]
    assert stored == {item["client_session_id"]: item["notes"] for item in items}
    again = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    assert {r["status"] for r in again} == {200}


@pytest.mark.parametrize("client_ids", [False, True])  # straight COPY, and COPY through the staging table
def test_a_large_batch_keeps_red_flags_and_a_bad_code_fails_only_its_item(client, headers, client_ids):
    flags = [[], ["fever_or_unwell"], ["saddle_numbness", "cancer_history"]]
    items = [
        batch_item(
            "flag-user",
            red_flags=flags[i % 3],
            performed_at=at(i),
            **({"client_session_id": f"f{i}"} if client_ids else {}),
        )
        for i in range(30)
    ]
    items[7]["red_flags"] = ["sore_toe"]
    results = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    assert results[7]["status"] == 422 and results[7]["problem"]["errors"][0]["loc"] == [
        "body",
        "sessions",
        7,
        "red_flags",
        0,
    ]
    assert {r["status"] for i, r in enumerate(results) if i != 7} == {201}
    stored = client.get("/v1/users/flag-user/sessions?limit=100", headers=headers).json()["items"]
    assert sorted((s["performed_at"], s["red_flags"], s["assessment"]["red_flag"]) for s in stored) == sorted(
        (r["session"]["performed_at"], flags[i % 3], bool(flags[i % 3])) for i, r in enumerate(results) if i != 7
    )
