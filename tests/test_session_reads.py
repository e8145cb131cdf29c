"""Listing (newest first, keyset pages stable under inserts, filters), tenancy and erasure."""

import pytest
from sqlalchemy import inspect, text

from app.pagination import encode_cursor
from tests.factories import at, session_body

# The PostgreSQL half runs once more through pgbouncer (transaction pooling): see conftest.
pytestmark = pytest.mark.through_pgbouncer

WRITE = "sessions:read,sessions:write"


@pytest.fixture
def headers(auth):
    return auth(WRITE)


def post(client, headers, user, **changes):
    response = client.post(f"/v1/users/{user}/sessions", json=session_body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def walk(client, headers, url):
    """All items of a listing, following Link headers; also the number of pages."""
    items, pages = [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        pages += 1
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    return items, pages


def test_listing_is_newest_first_with_ties_in_received_order(client, headers):
    ids = [post(client, headers, "u", performed_at=at(minute))["id"] for minute in (5, 1, 3, 3, 9)]
    listed = [s["id"] for s in client.get("/v1/users/u/sessions", headers=headers).json()["items"]]
    assert listed == [ids[4], ids[0], ids[3], ids[2], ids[1]]


def test_pages_cover_everything_once(client, headers):
    ids = [post(client, headers, "u", performed_at=at(minute % 4))["id"] for minute in range(11)]
    items, pages = walk(client, headers, "/v1/users/u/sessions?limit=3")
    assert pages == 4 and sorted(s["id"] for s in items) == sorted(ids) and len(items) == 11


def test_pages_stay_correct_while_sessions_arrive(client, headers):
    for minute in range(6):
        post(client, headers, "u", performed_at=at(minute))
    first = client.get("/v1/users/u/sessions?limit=3", headers=headers)
    seen = [s["id"] for s in first.json()["items"]]
    post(client, headers, "u", performed_at=at(100))  # newer than everything: belongs before page 1
    post(client, headers, "u", performed_at=at(2))  # a tie with an unseen one, received later
    link = first.headers["link"]
    rest, _ = walk(client, headers, link[1 : link.index(">")])
    times = [s["performed_at"] for s in rest]
    assert not set(seen) & {s["id"] for s in rest}
    assert len(rest) == 4 and times == sorted(times, reverse=True)


def test_filters_since_until_and_exercise(client, headers):
    for minute in range(6):
        post(client, headers, "u", performed_at=at(minute))
    post(client, headers, "u", performed_at=at(3), exercise="glute-bridge", faults=[])
    since, until = at(2).replace("+00:00", "Z"), at(4).replace("+00:00", "Z")
    params = {"since": since, "until": until}
    window = client.get("/v1/users/u/sessions", params=params, headers=headers).json()["items"]
    assert sorted(s["performed_at"] for s in window) == [
        since,
        at(3).replace("+00:00", "Z"),
        at(3).replace("+00:00", "Z"),
    ]
    bridges = client.get("/v1/users/u/sessions?exercise=glute-bridge", headers=headers).json()["items"]
    assert [s["exercise"] for s in bridges] == ["glute-bridge"]
    paged, _ = walk(client, headers, "/v1/users/u/sessions?exercise=reverse-lunge&limit=2")
    assert len(paged) == 6


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("since=yesterday", ["query", "since"]),
        ("until=2026-11-20T07:30:00", ["query", "until"]),
        ("limit=0", ["query", "limit"]),
        ("cursor=xyz", ["query", "cursor"]),
        ("cursor=WyJ4IiwxXQ", ["query", "cursor"]),
        (f"cursor={encode_cursor(['2026-11-20T07:30:00+00:00', 2**70])}", ["query", "cursor"]),  # out of range
        ("exercise=reverse%00lunge", ["query", "exercise"]),  # PostgreSQL refuses NUL in text
    ],
)
def test_bad_list_query_is_422(client, headers, query, loc):
    response = client.get(f"/v1/users/u/sessions?{query}", headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == loc


def test_a_session_id_with_a_nul_character_is_422_not_a_database_error(client, headers):
    for method in ("GET", "PATCH"):
        response = client.request(
            method,
            "/v1/users/u/sessions/abc%00def",
            headers=headers | {"Content-Type": "application/merge-patch+json"},
            content=b"{}" if method == "PATCH" else None,
        )
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["path", "session_id"]


def test_unknown_user_lists_nothing(client, headers):
    assert client.get("/v1/users/nobody/sessions", headers=headers).json() == {"items": [], "next_cursor": None}


def test_another_partner_cannot_read_change_or_erase_the_data(client, auth):
    mine, theirs = auth(WRITE), auth(WRITE)
    stored = post(client, mine, "shared-id", client_session_id="c1")
    url = f"/v1/users/shared-id/sessions/{stored['id']}"
    assert client.get(url, headers=theirs).status_code == 404
    patch = client.patch(
        url, content='{"notes": "x"}', headers=theirs | {"Content-Type": "application/merge-patch+json"}
    )
    assert patch.status_code == 404
    assert client.get("/v1/users/shared-id/sessions", headers=theirs).json()["items"] == []
    assert client.delete("/v1/users/shared-id", headers=theirs).status_code == 204
    # the same client_session_id and Idempotency-Key are theirs to use independently
    again = client.post(
        "/v1/users/shared-id/sessions", json=session_body(client_session_id="c1", rpe=0), headers=theirs
    )
    assert again.status_code == 201
    batch = client.post(
        "/v1/sessions/batch",
        json={"sessions": [{"user_id": "shared-id", **session_body(client_session_id="c1")}]},
        headers=theirs,
    )
    assert batch.json()["results"][0]["status"] == 409  # against their own c1, not mine
    for key_user in (mine, theirs):
        assert (
            client.post(
                "/v1/users/k/sessions", json=session_body(), headers=key_user | {"Idempotency-Key": "same"}
            ).status_code
            == 201
        )
    # mine is untouched
    assert client.get(url, headers=mine).json() == stored
    assert len(client.get("/v1/users/shared-id/sessions", headers=mine).json()["items"]) == 1


def _rows_mentioning(engine, user_id: str) -> dict[str, int]:
    """For every table, how many rows mention the user id in any text column."""
    found = {}
    with engine.connect() as connection:
        inspector = inspect(connection)
        for table in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(table)]
            casts = " || ' ' || ".join(f"coalesce(cast({c} as text), '')" for c in columns)
            count = connection.execute(
                text(f"select count(*) from {table} where ({casts}) like :needle"), {"needle": f"%{user_id}%"}
            ).scalar_one()
            if count:
                found[table] = count
    return found


def test_erasure_removes_every_trace_of_the_user_and_nothing_else(client, headers, app):
    gone, kept = "erase-me-7f3a", "keep-me-2b9c"
    post(client, headers, gone, client_session_id="g1")
    client.post(f"/v1/users/{gone}/sessions", json=session_body(), headers=headers | {"Idempotency-Key": "single-key"})
    batch = {
        "sessions": [
            {"user_id": u, **session_body(client_session_id=f"{u}-b", performed_at=at(1))} for u in (gone, kept)
        ]
    }
    client.post("/v1/sessions/batch", json=batch, headers=headers | {"Idempotency-Key": "batch-key"})
    client.post(f"/v1/users/{kept}/sessions", json=session_body(), headers=headers | {"Idempotency-Key": "kept-key"})
    clearance = {"cleared_at": at(2), "note": "Seen by the practice physio."}
    client.post(f"/v1/users/{gone}/clearances", json=clearance, headers=headers | {"Idempotency-Key": "clear-key"})
    client.post(f"/v1/users/{kept}/clearances", json=clearance, headers=headers)
    assert {"session_log", "clearance", "idempotency_user"} <= set(_rows_mentioning(app.state.engine, gone))

    assert client.delete(f"/v1/users/{gone}", headers=headers).status_code == 204
    assert _rows_mentioning(app.state.engine, gone) == {}
    assert client.get(f"/v1/users/{gone}/sessions", headers=headers).json()["items"] == []
    kept_rows = _rows_mentioning(app.state.engine, kept)
    assert kept_rows.get("session_log") == 2 and kept_rows.get("idempotency_user") == 1  # the batch record went
    assert kept_rows.get("clearance") == 1
    assert client.get(f"/v1/users/{gone}/clearances", headers=headers).json()["items"] == []

    # retrying the erased batch: its record is gone, so items run again; client ids keep the
    # other user's item from being stored twice, and the erased user's item is a new write
    retry = client.post("/v1/sessions/batch", json=batch, headers=headers | {"Idempotency-Key": "batch-key"})
    assert [r["status"] for r in retry.json()["results"]] == [201, 200]
    assert len(client.get(f"/v1/users/{kept}/sessions", headers=headers).json()["items"]) == 2
    assert client.delete(f"/v1/users/{gone}", headers=headers).status_code == 204  # erasing again is fine
