"""Free text is stored sealed under its user's key and answered in clear; every path that writes
or reads it (single posts, retries, batches, patches, clearances, scores, stored answers)
agrees; a user's key is made with their first text and goes with them."""

import base64
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from app.main import create_app
from app.sealing import crypto
from tests.conftest import deployed, settings_for
from tests.factories import session_body

WRITER = "catalogue:read,sessions:read,sessions:write"


@pytest.fixture
def headers(auth) -> dict[str, str]:
    return auth(WRITER)


def _stored(app, sql: str, **parameters) -> list:
    with app.state.engine.connect() as connection:
        return list(connection.execute(text(sql), parameters).scalars())


def _keys(app, user_id: str) -> int:
    return _stored(app, "select count(*) from user_key where user_id = :user", user=user_id)[0]


def test_notes_are_stored_sealed_and_answered_in_clear(client, app, headers):
    user = f"u-{uuid.uuid4().hex[:8]}"
    assert client.post(f"/v1/users/{user}/sessions", json=session_body(notes=None), headers=headers).status_code == 201
    assert _keys(app, user) == 0  # no text yet: no key

    posted = client.post(f"/v1/users/{user}/sessions", json=session_body(notes="Left knee ached"), headers=headers)
    assert posted.status_code == 201 and posted.json()["notes"] == "Left knee ached"
    session_id = posted.json()["id"]
    (stored,) = _stored(app, "select notes from session_log where id = :id", id=session_id)
    assert crypto.is_sealed(stored) and "knee" not in stored
    assert _keys(app, user) == 1

    assert client.get(f"/v1/users/{user}/sessions/{session_id}", headers=headers).json()["notes"] == "Left knee ached"
    listed = client.get(f"/v1/users/{user}/sessions", headers=headers).json()["items"]
    assert [item["notes"] for item in listed] == ["Left knee ached", None]

    patched = client.patch(
        f"/v1/users/{user}/sessions/{session_id}",
        json={"notes": "Fine the next morning"},
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.json()["notes"] == "Fine the next morning"
    (stored_again,) = _stored(app, "select notes from session_log where id = :id", id=session_id)
    assert crypto.is_sealed(stored_again) and stored_again != stored and "morning" not in stored_again
    again = client.get(f"/v1/users/{user}/sessions/{session_id}", headers=headers).json()
    assert again["notes"] == "Fine the next morning"
    assert _keys(app, user) == 1  # the same key


def test_a_retry_compares_notes_as_sent_not_as_sealed(client, headers):
    """Sealing twice gives two ciphertexts: a retry with the same notes is still the same session
    (200), and one with other notes a conflict."""
    user = f"u-{uuid.uuid4().hex[:8]}"
    body = session_body(client_session_id="c-1", notes="Wobbly on the left")
    first = client.post(f"/v1/users/{user}/sessions", json=body, headers=headers)
    same = client.post(f"/v1/users/{user}/sessions", json=body, headers=headers)
    assert (first.status_code, same.status_code) == (201, 200)
    assert same.json() == first.json()
    other = client.post(f"/v1/users/{user}/sessions", json=body | {"notes": "Wobbly on the right"}, headers=headers)
    without = client.post(f"/v1/users/{user}/sessions", json=body | {"notes": None}, headers=headers)
    assert (other.status_code, without.status_code) == (409, 409)

    batch = {"sessions": [body | {"user_id": user}, body | {"user_id": user, "notes": "else"}]}
    results = client.post("/v1/sessions/batch", json=batch, headers=headers).json()["results"]
    assert [r["status"] for r in results] == [200, 409]
    assert results[0]["session"]["notes"] == "Wobbly on the left"


def test_a_batch_seals_each_users_notes_under_their_own_key(client, app, headers):
    users = [f"b-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    items = [
        session_body(user_id=users[0], notes="first user"),
        session_body(user_id=users[1], notes=None),
        session_body(user_id=users[2], notes="third user"),
        session_body(user_id=users[0], notes="first user again", exercise="no-such-exercise"),  # refused
    ]
    # 25 items: PostgreSQL COPYs them (20 or more), SQLite inserts them.
    items += [session_body(user_id=users[2], notes=f"more {i}", performed_at=_at(i)) for i in range(21)]
    answer = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers)
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 422] + [201] * 21
    assert [results[i]["session"]["notes"] for i in (0, 1, 2)] == ["first user", None, "third user"]
    stored = [n for user in users for n in _stored(app, "select notes from session_log where user_id = :u", u=user)]
    assert len(stored) == 24 and all(note is None or crypto.is_sealed(note) for note in stored)
    assert [_keys(app, user) for user in users] == [1, 0, 1]
    read = client.get(f"/v1/users/{users[2]}/sessions?limit=100", headers=headers).json()["items"]
    assert sorted(item["notes"] for item in read) == sorted(["third user", *(f"more {i}" for i in range(21))])


def _at(minutes: int) -> str:
    return (datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


def test_a_stored_answer_holding_notes_is_sealed_and_replayed_in_clear(client, app, headers):
    users = [f"s-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    once = headers | {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    items = [session_body(user_id=users[0], notes="private one"), session_body(user_id=users[1], notes=None)]
    batch = {"sessions": items}
    first = client.post("/v1/sessions/batch", json=batch, headers=once)
    replay = client.post("/v1/sessions/batch", json=batch, headers=once)
    assert first.status_code == replay.status_code == 200
    assert replay.text == first.text and "private one" in replay.text
    bodies = _stored(app, "select response_body from idempotency_record where key = :key", key=once["Idempotency-Key"])
    assert bodies[0].startswith(crypto.ANSWER) and "private one" not in bodies[0]
    assert crypto.answer_users(bodies[0]) == [users[0]]  # whose text it holds

    cleared = {"cleared_at": _at(0), "note": "Seen by the physio"}
    key = headers | {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    made = client.post(f"/v1/users/{users[1]}/clearances", json=cleared, headers=key)
    again = client.post(f"/v1/users/{users[1]}/clearances", json=cleared, headers=key)
    assert made.status_code == 201 and again.text == made.text and again.json()["note"] == "Seen by the physio"
    (clearance,) = _stored(app, "select note from clearance where id = :id", id=made.json()["id"])
    assert crypto.is_sealed(clearance)
    listed = client.get(f"/v1/users/{users[1]}/clearances", headers=headers).json()["items"]
    assert [c["note"] for c in listed] == ["Seen by the physio"]

    score = {"instrument": "odi", "score": 30, "recorded_at": _at(0), "note": "After the holidays"}
    scored = client.post(f"/v1/users/{users[1]}/outcomes", json=score, headers=headers)
    assert scored.status_code == 201 and scored.json()["note"] == "After the holidays"
    (outcome,) = _stored(app, "select note from outcome where id = :id", id=scored.json()["id"])
    assert crypto.is_sealed(outcome)
    read = client.get(f"/v1/users/{users[1]}/outcomes/{scored.json()['id']}", headers=headers)
    assert read.json()["note"] == "After the holidays"


def test_erasing_a_user_deletes_their_key_and_leaves_the_others(client, app, headers):
    gone, kept = (f"e-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for user in (gone, kept):
        assert (
            client.post(f"/v1/users/{user}/sessions", json=session_body(notes="n"), headers=headers).status_code == 201
        )
    assert client.delete(f"/v1/users/{gone}", headers=headers).status_code == 204
    assert (_keys(app, gone), _keys(app, kept)) == (0, 1)
    assert client.get(f"/v1/users/{kept}/sessions", headers=headers).json()["items"][0]["notes"] == "n"
    # A new note after the erasure gets a new key, and reads back.
    again = client.post(f"/v1/users/{gone}/sessions", json=session_body(notes="back again"), headers=headers)
    assert again.status_code == 201 and _keys(app, gone) == 1
    assert client.get(f"/v1/users/{gone}/sessions", headers=headers).json()["items"][0]["notes"] == "back again"


def _new_data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _rewrap(url: str, data_key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STEPWISE_DATA_KEY"} | {"DATABASE_URL": url}
    if data_key is not None:
        env["STEPWISE_DATA_KEY"] = data_key
    command = [sys.executable, "-m", "app", "db", "rewrap-keys"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _read_notes(backend: str, url: str, data_key: str | None, headers: dict[str, str], key: str) -> tuple:
    settings = settings_for(backend, url, data_key=SecretStr(data_key) if data_key else None)
    with TestClient(create_app(settings)) as client:
        listed = client.get("/v1/users/u-1/sessions", headers=headers).json()["items"]
        replay = client.post("/v1/users/u-1/clearances", json={"cleared_at": _at(0), "note": "c"}, headers=key)
        return [item["notes"] for item in listed], replay.json()["note"]


def test_a_new_data_key_rewraps_every_users_key_and_the_old_one_can_go(backend, empty_database_url):
    """From the deployment's own data key to STEPWISE_DATA_KEY, then to another: `stepwise db
    rewrap-keys` wraps every user's key under the new one, and the notes read the same under it
    alone; the key the deployment made is deleted from the database."""
    url = empty_database_url
    app, headers = deployed(backend, url, "rotating", WRITER)
    with TestClient(app) as client:
        body = session_body(notes="Sealed under the first key", exercise="glute-bridge", faults=[])
        assert client.post("/v1/users/u-1/sessions", json=body, headers=headers).status_code == 201
        once = headers | {"Idempotency-Key": "clearance-1"}
        assert client.post("/v1/users/u-1/clearances", json={"cleared_at": _at(0), "note": "c"}, headers=once)
    made = "select count(*) from deployment_secret where name = 'user-key-wrapping'"
    assert _stored(app, made) == [1]

    refused = _rewrap(url, None)
    assert refused.returncode == 1 and "set STEPWISE_DATA_KEY first" in refused.stderr

    first = _new_data_key()
    moved = _rewrap(url, first)
    assert moved.returncode == 0, moved.stderr
    assert "1 of 1 user keys rewrapped" in moved.stdout and "deleted from the database" in moved.stdout
    assert _stored(app, made) == [0]
    assert _read_notes(backend, url, first, headers, once) == (["Sealed under the first key"], "c")

    second = _new_data_key()
    unlisted = _rewrap(url, second)  # the key that wraps them now is not listed
    assert unlisted.returncode == 1 and "is not configured" in unlisted.stderr
    rotated = _rewrap(url, f"{second},{first}")
    assert rotated.returncode == 0 and "1 of 1 user keys rewrapped" in rotated.stdout, rotated.stderr
    assert _rewrap(url, second).stdout.startswith("0 of 1 user keys rewrapped")
    assert _read_notes(backend, url, second, headers, once) == (["Sealed under the first key"], "c")


def test_a_users_later_notes_take_one_statement_that_checks_their_key(client, app, headers, backend, monkeypatch):
    """A user's first note makes their key in a transaction; the next ones are sealed under the
    key as read then, in one INSERT that stores them only while it is still the user's. A key
    deleted meanwhile (an erasure on another replica) stores nothing there: the post then takes
    the transaction, under a new key."""
    from sqlalchemy import event

    from app.db.statements import DriverStatement

    user = f"k-{uuid.uuid4().hex[:8]}"
    assert (
        client.post(f"/v1/users/{user}/sessions", json=session_body(notes="first"), headers=headers).status_code == 201
    )
    driver: list[str] = []
    framework: list[str] = []
    run = DriverStatement.run

    async def counted(self, raw, dialect, parameters):
        driver.append(self._compiled[id(dialect)].sql)
        return await run(self, raw, dialect, parameters)

    def seen(conn, cursor, statement, *args):
        if "session_log" in statement or "user_key" in statement:
            framework.append(statement)

    monkeypatch.setattr(DriverStatement, "run", counted)
    event.listen(app.state.database.sync_engine, "before_cursor_execute", seen)
    try:
        second = client.post(f"/v1/users/{user}/sessions", json=session_body(notes="second"), headers=headers)
        assert second.status_code == 201 and second.json()["notes"] == "second"
        if backend == "postgres":
            assert len(driver) == 1 and "FOR SHARE" in driver[0] and not framework, (driver, framework)
        (wrapped,) = _stored(app, "select wrapped from user_key where user_id = :u", u=user)
        with app.state.engine.begin() as connection:  # as an erasure on another replica does
            connection.execute(text("delete from user_key where user_id = :u"), {"u": user})
            connection.execute(text("delete from session_log where user_id = :u"), {"u": user})
        for body in (session_body(notes="third"), session_body(notes="fourth", client_session_id="c-4")):
            posted = client.post(f"/v1/users/{user}/sessions", json=body, headers=headers)
            assert posted.status_code == 201, posted.text
    finally:
        event.remove(app.state.database.sync_engine, "before_cursor_execute", seen)
    (new_key,) = _stored(app, "select wrapped from user_key where user_id = :u", u=user)
    assert new_key != wrapped
    listed = client.get(f"/v1/users/{user}/sessions", headers=headers).json()["items"]
    assert sorted(item["notes"] for item in listed) == ["fourth", "third"]
