"""Concurrent identical writes store exactly one session (real server, real threads)."""

import threading

import httpx
from sqlalchemy import func, select
from sqlmodel import Session

from app.sessions.tables import SessionRow
from tests.factories import session_body

THREADS = 12


def _race(url: str, headers: dict[str, str], body: dict) -> list[httpx.Response]:
    barrier = threading.Barrier(THREADS)
    responses: list[httpx.Response] = []

    def post_once() -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            responses.append(client.post(url, json=body, headers=headers))

    threads = [threading.Thread(target=post_once) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def _count(app, user: str) -> int:
    with Session(app.state.engine) as s:
        return s.execute(select(func.count()).select_from(SessionRow).where(SessionRow.user_id == user)).scalar_one()


def test_racing_posts_with_one_client_session_id_store_one_session(live_server, make_key, app):
    headers = {"Authorization": f"Bearer {make_key('sessions:write')}"}
    responses = _race(f"{live_server}/v1/users/racer-1/sessions", headers, session_body(client_session_id="same"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (THREADS - 1) + [201], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(app, "racer-1") == 1


def test_racing_posts_with_one_idempotency_key_store_one_session(live_server, make_key, app):
    headers = {"Authorization": f"Bearer {make_key('sessions:write')}", "Idempotency-Key": "race-key"}
    responses = _race(f"{live_server}/v1/users/racer-2/sessions", headers, session_body())
    answered = [r for r in responses if r.status_code == 201]
    assert all(r.status_code in (201, 409) for r in responses), [r.status_code for r in responses]
    assert answered and len({r.content for r in answered}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answered) == 1
    assert _count(app, "racer-2") == 1


def test_racing_batches_store_each_item_once(live_server, make_key, app):
    headers = {"Authorization": f"Bearer {make_key('sessions:write')}"}
    items = [{"user_id": "racer-3", **session_body(client_session_id=f"b{i}")} for i in range(20)]
    responses = _race(f"{live_server}/v1/sessions/batch", headers, {"sessions": items})
    assert {r.status_code for r in responses} == {200}
    created = [r for r in responses if {x["status"] for x in r.json()["results"]} == {201}]
    assert len(created) == 1
    assert _count(app, "racer-3") == 20
