"""Webhook events queued by the writes (issue 22, step 2b): each write that a partner's endpoint
asked for stores a message and a delivery per endpoint in the write's transaction; replays,
refused writes and partners without endpoints store nothing; erasing a user deletes the messages
holding their data and queues `user.erased`."""

import json
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from app.db.statements import DriverStatement
from app.webhooks.outbox import QUEUED
from app.webhooks.tables import WebhookDelivery, WebhookMessage
from tests.factories import session_body

ALL = "catalogue:read,sessions:read,sessions:write,webhooks:manage"
EVERY_EVENT = [
    "session.created",
    "session.updated",
    "safety.red_flag",
    "safety.pain_stop",
    "clearance.created",
    "user.erased",
]
# Nothing listens there: a delivery the worker may try fails, and the rows stay for these tests.
HOOK = "http://127.0.0.1:9/hook"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(autouse=True)
def private_urls(app, monkeypatch) -> None:
    monkeypatch.setattr(app.state.settings, "webhooks_allow_private", True)


@pytest.fixture
def key(make_key) -> str:
    return make_key(ALL)


def register(client, key: str, events: list[str] = EVERY_EVENT) -> str:
    response = client.post("/v1/webhooks", json={"url": HOOK, "events": events}, headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def post(client, key: str, user: str = "u-1", headers: dict[str, str] | None = None, **changes: Any):
    return client.post(
        f"/v1/users/{user}/sessions", json=session_body(**changes), headers=bearer(key) | (headers or {})
    )


def patch(client, key: str, session: dict[str, Any], body: dict[str, Any]):
    headers = bearer(key) | {"Content-Type": "application/merge-patch+json"}
    url = f"/v1/users/{session['user_id']}/sessions/{session['id']}"
    return client.patch(url, content=json.dumps(body), headers=headers)


def messages(app, event_type: str | None = None) -> list[dict[str, Any]]:
    """Every stored message (oldest first), its body parsed, with its user and endpoints."""
    with Session(app.state.engine) as session:
        query = select(WebhookMessage).order_by(col(WebhookMessage.created_at))
        found = []
        for message in session.exec(query).all():
            deliveries = session.exec(select(WebhookDelivery).where(WebhookDelivery.message_id == message.id)).all()
            body = json.loads(message.body)
            found.append(body | {"user": message.user_id, "endpoints": sorted(d.endpoint_id for d in deliveries)})
    return [m for m in found if event_type is None or m["type"] == event_type]


def pain_stop(app) -> int:
    ladder = app.state.catalogue.ladder_step("reverse-lunge")
    assert ladder is not None
    return ladder[0].rules.pain_stop


def test_a_posted_session_queues_session_created_without_its_notes(client, app, key):
    endpoint = register(client, key)
    stored = post(client, key)
    assert stored.status_code == 201, stored.text
    session = stored.json()
    [message] = messages(app)
    assert (message["type"], message["user"], message["endpoints"]) == ("session.created", "u-1", [endpoint])
    assert message["data"] == {
        "user_id": "u-1",
        "session_id": session["id"],
        "exercise": "reverse-lunge",
        "progression": None,
        "performed_at": session["performed_at"],
        "assessment": session["assessment"],
    }
    assert message["data"]["performed_at"] == "2026-11-20T06:30:00Z"
    assert "felt fine" not in json.dumps(message)
    assert message["timestamp"].endswith("Z")


def test_a_replay_queues_nothing_more(client, app, key):
    register(client, key)
    by_key = {"Idempotency-Key": "k-1"}
    assert post(client, key, headers=by_key).status_code == 201
    assert post(client, key, headers=by_key).status_code == 201  # replayed from the stored answer
    assert post(client, key, client_session_id="c-1").status_code == 201
    assert post(client, key, client_session_id="c-1").status_code == 200
    assert len(messages(app, "session.created")) == 2


def test_a_batch_queues_one_event_per_stored_item(client, app, key):
    register(client, key, ["session.created"])
    assert post(client, key, user="u-2", client_session_id="c-1").status_code == 201
    items = [
        session_body(user_id="u-1"),
        session_body(user_id="u-2", client_session_id="c-1"),  # already stored: answered 200
        session_body(user_id="u-3", exercise="no-such-exercise"),  # refused: 422
        session_body(user_id="u-4"),
    ]
    response = client.post("/v1/sessions/batch", json={"sessions": items}, headers=bearer(key))
    assert [r["status"] for r in response.json()["results"]] == [201, 200, 422, 201]
    stored = {r["session"]["id"] for r in response.json()["results"] if r["status"] == 201}
    batch_messages = [m for m in messages(app, "session.created") if m["data"]["session_id"] in stored]
    assert sorted(m["user"] for m in batch_messages) == ["u-1", "u-4"]
    assert len(messages(app)) == 3


def test_a_patch_that_changes_a_session_queues_session_updated(client, app, key):
    register(client, key, ["session.updated"])
    session = post(client, key).json()
    assert patch(client, key, session, {"notes": "sore later"}).status_code == 200
    assert patch(client, key, session, {"notes": "sore later"}).status_code == 200  # changed nothing
    [message] = messages(app)
    assert message["type"] == "session.updated"
    assert message["data"]["session_id"] == session["id"]
    assert "notes" not in message["data"] and "sore later" not in json.dumps(message)


def test_red_flags_queue_safety_red_flag_with_the_most_urgent_urgency(client, app, key):
    register(client, key, ["safety.red_flag"])
    assert post(client, key).status_code == 201  # no red flags: no event
    session = post(client, key, red_flags=["cancer_history", "fever_or_unwell"]).json()
    [message] = messages(app)
    assert message["data"] == {
        "user_id": "u-1",
        "session_id": session["id"],
        "performed_at": session["performed_at"],
        "red_flags": [
            {"code": "cancer_history", "urgency": "see_clinician"},
            {"code": "fever_or_unwell", "urgency": "urgent"},
        ],
        "urgency": "urgent",
    }
    post(client, key, red_flags=["cancer_history", "saddle_numbness"])
    assert messages(app)[-1]["data"]["urgency"] == "emergency"


def test_pain_at_the_stop_level_queues_safety_pain_stop_on_post_and_patch(client, app, key):
    register(client, key, ["safety.pain_stop"])
    stop = pain_stop(app)
    below = {"before": 1, "during": stop - 1, "after": 2, "next_morning": None}
    at_stop = post(client, key, pain=below | {"after": stop}).json()
    [message] = messages(app)
    ladder = app.state.catalogue.ladder_step("reverse-lunge")[0].slug
    assert message["data"] == {
        "user_id": "u-1",
        "session_id": at_stop["id"],
        "progression": ladder,
        "pain": at_stop["pain"],
    }
    fine = post(client, key, pain=below).json()
    assert len(messages(app)) == 1
    assert patch(client, key, fine, {"pain": {"next_morning": stop}}).status_code == 200
    assert [m["data"]["session_id"] for m in messages(app)] == [at_stop["id"], fine["id"]]
    assert messages(app)[-1]["data"]["pain"]["next_morning"] == stop


def test_a_clearance_queues_clearance_created(client, app, key):
    register(client, key, ["clearance.created"])
    response = client.post(
        "/v1/users/u-1/clearances", json={"cleared_at": "2026-11-20T09:00:00+01:00"}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    [message] = messages(app)
    assert message["data"] == {
        "user_id": "u-1",
        "clearance_id": response.json()["id"],
        "cleared_at": "2026-11-20T08:00:00Z",
    }


def test_only_the_partners_endpoints_that_asked_get_events(client, app, key, make_key):
    other = make_key(ALL)
    register(client, other, ["safety.red_flag"])  # another type
    assert post(client, other).status_code == 201
    without = make_key(ALL)  # no endpoint at all
    assert post(client, without, red_flags=["fever_or_unwell"]).status_code == 201
    assert client.delete("/v1/users/u-1", headers=bearer(without)).status_code == 204
    assert messages(app) == []
    mine = register(client, key, ["session.created"])
    assert post(client, key).status_code == 201
    assert [m["endpoints"] for m in messages(app)] == [[mine]]  # not the other partner's endpoint


def test_erasure_deletes_the_users_messages_and_queues_user_erased(client, app, key):
    register(client, key)
    post(client, key, user="u-1", red_flags=["fever_or_unwell"])
    post(client, key, user="u-2")
    assert {m["user"] for m in messages(app)} == {"u-1", "u-2"}
    assert client.delete("/v1/users/u-1", headers=bearer(key)).status_code == 204
    left = messages(app)
    assert [(m["type"], m["user"]) for m in left] == [("session.created", "u-2"), ("user.erased", None)]
    assert left[-1]["data"] == {"user_id": "u-1"}
    with Session(app.state.engine) as session:
        message_ids = set(session.exec(select(WebhookMessage.id)).all())
        delivery_messages = set(session.exec(select(WebhookDelivery.message_id)).all())
    assert delivery_messages == message_ids and len(message_ids) == 2
    # Erased again before the notice is delivered: the first notice stays.
    assert client.delete("/v1/users/u-1", headers=bearer(key)).status_code == 204
    assert [m["type"] for m in messages(app, "user.erased")] == ["user.erased", "user.erased"]


def test_writes_refused_queue_nothing(client, app, key):
    register(client, key)
    assert post(client, key, exercise="no-such-exercise").status_code == 422
    assert post(client, key, red_flags=["no-such-flag"]).status_code == 422
    assert post(client, key, client_session_id="c-1").status_code == 201
    assert post(client, key, client_session_id="c-1", rpe=9).status_code == 409
    session = messages(app)[0]["data"]
    refused = patch(client, key, {"user_id": "u-1", "id": session["session_id"]}, {"pain": None})
    assert refused.status_code == 422
    assert client.post("/v1/users/u-1/clearances", json={}, headers=bearer(key)).status_code == 422
    assert [m["type"] for m in messages(app)] == ["session.created"]


def test_on_postgresql_a_single_post_and_its_events_are_one_statement(client, app, key, backend, monkeypatch):
    """The hot POST's outbox rows go in the INSERT's own round trip (a WITH clause), not in a
    transaction of their own; a clash's read follows it, and queues nothing. (A post without
    notes: notes are sealed under the user's key, read or made in the post's transaction.)"""
    if backend != "postgres":
        pytest.skip("SQLite has no INSERT in a WITH clause: its events share the session's transaction")
    register(client, key, ["session.created", "safety.red_flag"])
    driver: list[str] = []
    framework: list[str] = []
    run = DriverStatement.run

    async def counted(self, raw, dialect, parameters):
        rows = await run(self, raw, dialect, parameters)
        driver.append(self._compiled[id(dialect)].sql)
        return rows

    def seen(conn, cursor, statement, *args):
        if any(
            table in statement
            for table in ("session_log", "INSERT INTO webhook_message", "INSERT INTO webhook_delivery")
        ):
            framework.append(statement)

    monkeypatch.setattr(DriverStatement, "run", counted)
    event.listen(app.state.database.sync_engine, "before_cursor_execute", seen)
    try:
        stored = post(client, key, client_session_id="c-1", red_flags=["fever_or_unwell"], notes=...)
        assert stored.status_code == 201, stored.text
        assert len(driver) == 1 and not framework
        assert all(
            f"INSERT INTO {table}" in driver[0] for table in ("session_log", "webhook_message", "webhook_delivery")
        )
        assert post(client, key, client_session_id="c-1", red_flags=["fever_or_unwell"], notes=...).status_code == 200
        assert len(driver) == 3 and not framework  # the INSERT that clashed, then the stored row's read
    finally:
        event.remove(app.state.database.sync_engine, "before_cursor_execute", seen)
    found = messages(app)
    assert sorted(m["type"] for m in found) == ["safety.red_flag", "session.created"]
    assert {m["data"]["session_id"] for m in found} == {stored.json()["id"]}


def test_a_commit_that_queued_wakes_the_replicas_deliverer_and_nothing_else_does(client, app, key):
    """Writes that queued deliveries signal `QUEUED` once committed (the deliverer sends at once,
    not at its next poll); refused, rolled-back and unsubscribed writes signal nothing."""
    signals: list[str] = []
    stop = app.state.transaction.listen(QUEUED, lambda: signals.append("woken"))
    try:
        assert post(client, key).status_code == 201  # no endpoint yet
        assert signals == []
        register(client, key, ["session.created"])
        assert post(client, key, client_session_id="c-1").status_code == 201
        assert len(signals) == 1
        assert post(client, key, client_session_id="c-1").status_code == 200  # stored before: nothing new
        assert post(client, key, client_session_id="c-1", rpe=9).status_code == 409
        assert post(client, key, exercise="no-such-exercise").status_code == 422
        assert len(signals) == 1
        assert post(client, key, headers={"Idempotency-Key": "k-1"}).status_code == 201
        assert len(signals) == 2
        batch = {"sessions": [session_body(user_id="u-2"), session_body(user_id="u-3")]}
        assert client.post("/v1/sessions/batch", json=batch, headers=bearer(key)).status_code == 200
        assert len(signals) == 3
    finally:
        stop()


def test_a_reload_that_read_before_a_registration_keeps_it(app, monkeypatch):
    """The periodic reload of who wants which events reads the endpoints, then replaces the
    replica's view. An endpoint registered on this replica while the read ran (committed after
    its snapshot) is kept: otherwise the partner's next writes would queue nothing for seconds
    (seen as a session.created missing under load)."""
    import anyio

    from app import background
    from app.webhooks.outbox import Subscriptions

    state = app.state
    original = state.webhook_subscriptions

    def stale_read(engine):
        # Meanwhile, a registration on this replica adds its partner's types.
        state.webhook_subscriptions = state.webhook_subscriptions.adding(987654, ["session.created"])
        return Subscriptions({1: ["user.erased"]})  # the snapshot, from before that commit

    monkeypatch.setattr(background, "_load_subscriptions", stale_read)
    try:
        anyio.run(background.reload_subscriptions, state)
        assert state.webhook_subscriptions.wants(987654, "session.created")
        assert state.webhook_subscriptions.wants(1, "user.erased")
        assert not state.webhook_subscriptions.wants(987654, "safety.red_flag")
    finally:
        state.webhook_subscriptions = original
