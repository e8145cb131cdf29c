"""Outcome scores: recorded (the score only) and listed newest first, each instrument's range
checked at its edges, safe to retry by Idempotency-Key, private to their partner, readable by
the user's own token, and erased with the user."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlmodel import Session, select

from app.progress.tables import OutcomeRow

pytestmark = pytest.mark.through_pgbouncer

ALL = "catalogue:read,sessions:read,sessions:write"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def key(make_key) -> str:
    return make_key(ALL)


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def record(client, key, user="u-1", headers=None, **body):
    sent = {"instrument": "odi", "score": 40, "recorded_at": ago(days=1)} | body
    return client.post(f"/v1/users/{user}/outcomes", json=sent, headers=bearer(key) | (headers or {}))


def stored_rows(app) -> list[OutcomeRow]:
    with Session(app.state.engine) as session:
        return list(session.exec(select(OutcomeRow)).all())


def test_a_score_is_recorded_and_answered_with_its_location(client, key):
    response = record(client, key, instrument="psfs", score=4.5, recorded_at="2026-11-30T10:15:00+01:00", note="x")
    assert response.status_code == 201, response.text
    stored = response.json()
    assert set(stored) == {"id", "user_id", "instrument", "score", "recorded_at", "received_at", "note"}
    assert (stored["instrument"], stored["score"], stored["recorded_at"], stored["note"]) == (
        "psfs",
        4.5,
        "2026-11-30T09:15:00Z",
        "x",
    )
    assert response.headers["location"] == f"/v1/users/u-1/outcomes/{stored['id']}"
    listed = client.get("/v1/users/u-1/outcomes", headers=bearer(key)).json()
    assert listed == {"items": [stored], "next_cursor": None}


def test_only_the_score_is_stored_never_a_questionnaires_items(app):
    columns = {column["name"] for column in inspect(app.state.engine).get_columns("outcome")}
    assert columns == {
        "seq",
        "id",
        "partner_id",
        "user_id",
        "instrument",
        "score",
        "recorded_at",
        "received_at",
        "note",
    }


@pytest.mark.parametrize(
    ("instrument", "lowest", "highest", "below", "above"),
    [("odi", 0, 100, -0.5, 100.5), ("rmdq", 0, 24, -1, 25), ("psfs", 0, 10, -0.1, 10.1), ("nprs", 0, 10, -1, 11)],
)
def test_each_instrument_takes_its_range_and_refuses_past_its_edges(
    client, key, app, instrument, lowest, highest, below, above
):
    for score in (lowest, highest):
        assert record(client, key, instrument=instrument, score=score).status_code == 201
    for score in (below, above):
        refused = record(client, key, instrument=instrument, score=score)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [error["loc"] for error in refused.json()["errors"]] == [["body", "score"]]
        assert instrument in refused.json()["errors"][0]["msg"]
    assert sorted(row.score for row in stored_rows(app)) == [lowest, highest]


def test_rmdq_counts_whole_points_and_the_others_take_decimals(client, key):
    assert record(client, key, instrument="rmdq", score=12.5).status_code == 422
    assert record(client, key, instrument="rmdq", score=12.0).status_code == 201
    assert record(client, key, instrument="odi", score=42.2).status_code == 201
    assert record(client, key, instrument="nprs", score=3.5).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"instrument": "sf36"}, ["body", "instrument"]),
        ({"score": "40"}, ["body", "score"]),
        ({"score": True}, ["body", "score"]),
        ({"score": None}, ["body", "score"]),
        ({"recorded_at": "in 10 minutes"}, ["body", "recorded_at"]),  # when the test runs (below)
        ({"recorded_at": "2026-11-30T10:15:00"}, ["body", "recorded_at"]),
        ({"items": [1, 2, 3]}, ["body", "items"]),
        ({"note": "x" * 1001}, ["body", "note"]),
    ],
)
def test_a_bad_score_is_refused_naming_the_field_and_nothing_is_stored(client, key, app, change, field):
    if change.get("recorded_at") == "in 10 minutes":  # not at collection: the run may take longer than that
        change = {"recorded_at": (datetime.now(UTC) + timedelta(minutes=10)).isoformat()}
    refused = record(client, key, **change)
    assert refused.status_code == 422, refused.text
    assert field in [error["loc"] for error in refused.json()["errors"]]
    assert stored_rows(app) == []


def test_a_retry_with_the_same_idempotency_key_stores_one_score(client, key, app):
    when = ago(days=2)
    first = record(client, key, headers={"Idempotency-Key": "o-1"}, score=30, recorded_at=when)
    again = record(client, key, headers={"Idempotency-Key": "o-1"}, score=30, recorded_at=when)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert record(client, key, headers={"Idempotency-Key": "o-1"}, score=31, recorded_at=when).status_code == 422
    assert len(stored_rows(app)) == 1


def test_scores_are_listed_newest_first_in_pages_and_by_instrument(client, key):
    made = [
        record(client, key, recorded_at=ago(days=d), instrument=i, score=5).json()
        for d, i in ((5, "odi"), (1, "nprs"), (3, "odi"))
    ]
    first = client.get("/v1/users/u-1/outcomes?limit=2", headers=bearer(key))
    assert [o["id"] for o in first.json()["items"]] == [made[1]["id"], made[2]["id"]]
    rest = client.get(f"/v1/users/u-1/outcomes?limit=2&cursor={first.json()['next_cursor']}", headers=bearer(key))
    assert [o["id"] for o in rest.json()["items"]] == [made[0]["id"]]
    odi = client.get("/v1/users/u-1/outcomes?instrument=odi", headers=bearer(key)).json()["items"]
    assert [o["id"] for o in odi] == [made[2]["id"], made[0]["id"]]
    assert client.get("/v1/users/u-1/outcomes?instrument=sf36", headers=bearer(key)).status_code == 422


def test_another_partners_user_has_no_scores_here(client, key, make_key):
    record(client, key)
    other = make_key(ALL)
    assert client.get("/v1/users/u-1/outcomes", headers=bearer(other)).json()["items"] == []


def test_a_user_token_records_and_reads_its_own_scores_only(client, key):
    minted = client.post(
        "/v1/users/u-1/tokens", json={"scopes": ["sessions:read", "sessions:write"]}, headers=bearer(key)
    )
    token = minted.json()["token"]
    assert record(client, token).status_code == 201
    assert len(client.get("/v1/users/u-1/outcomes", headers=bearer(token)).json()["items"]) == 1
    assert record(client, token, user="u-2").status_code == 403
    assert client.get("/v1/users/u-2/outcomes", headers=bearer(token)).status_code == 403
    reader = client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=bearer(key)).json()
    assert record(client, reader["token"]).status_code == 403


def test_erasing_the_user_erases_their_scores_and_the_answers_that_held_them(client, key, app):
    record(client, key, headers={"Idempotency-Key": "o-1"})
    record(client, key, user="u-2")
    assert client.delete("/v1/users/u-1", headers=bearer(key)).status_code == 204
    assert [row.user_id for row in stored_rows(app)] == ["u-2"]
    assert client.get("/v1/users/u-1/outcomes", headers=bearer(key)).json()["items"] == []
    again = record(client, key, headers={"Idempotency-Key": "o-1"})  # the stored answer went with them
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
