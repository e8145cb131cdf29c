"""The events the writes queue (issue 22): each event's `data`, built from the document the API
answers, and queued through the outbox in the write's own transaction.

Every function first asks the in-memory `Subscriptions` whether the partner wants the type, so
a partner without endpoints pays nothing (no query, no data built). `data` never holds a
session's notes nor any outcome score; its moments are as the API answers them (RFC 3339, `Z`).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.catalogue.memory import LiveCatalogue
from app.progression.reading import most_urgent
from app.webhooks import outbox
from app.webhooks.outbox import Subscriptions
from app.webhooks.tables import WebhookMessage

SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
RED_FLAG = "safety.red_flag"
PAIN_STOP = "safety.pain_stop"
CLEARANCE_CREATED = "clearance.created"
USER_ERASED = "user.erased"
STORED_SESSION_EVENTS = (SESSION_CREATED, RED_FLAG, PAIN_STOP)
PAIN_TIMES = ("before", "during", "after", "next_morning")

Document = Mapping[str, Any]


def wants_any(subscriptions: Subscriptions, partner_id: int, event_types: tuple[str, ...]) -> bool:
    """Whether the partner has an enabled endpoint for any of these types."""
    return any(subscriptions.wants(partner_id, event_type) for event_type in event_types)


def session_data(document: Document) -> dict[str, Any]:
    """`session.created` and `session.updated`: who, which session, what and its assessment."""
    return {
        "user_id": document["user_id"],
        "session_id": document["id"],
        "exercise": document["exercise"],
        "progression": document["progression"],
        "performed_at": document["performed_at"],
        "assessment": document["assessment"],
    }


def red_flag_data(document: Document, catalogue: LiveCatalogue) -> dict[str, Any]:
    """`safety.red_flag`: each flag with its urgency in the catalogue, and the most urgent one."""
    codes = document["red_flags"]
    urgency = catalogue.guidance.urgency
    return {
        "user_id": document["user_id"],
        "session_id": document["id"],
        "performed_at": document["performed_at"],
        "red_flags": [{"code": code, "urgency": urgency.get(code, "see_clinician")} for code in codes],
        "urgency": most_urgent(codes, catalogue.guidance),
    }


def pain_stop_ladder(document: Document, catalogue: LiveCatalogue) -> str | None:
    """The ladder whose `pain_stop` the session's pain reached (any of its four values), or None."""
    return _stop_reached(document["exercise"], document["progression"], document["pain"].values(), catalogue)


def _stop_reached(
    exercise: str, progression: str | None, pain: Iterable[int | None], catalogue: LiveCatalogue
) -> str | None:
    ladder = catalogue.ladder_step(exercise, progression)
    if ladder is None:
        return None
    rules = ladder[0].rules
    return ladder[0].slug if any(p is not None and p >= rules.pain_stop for p in pain) else None


def pain_stop_data(document: Document, ladder: str) -> dict[str, Any]:
    """`safety.pain_stop`: the session, the ladder whose stop level it reached, and its pain."""
    return {
        "user_id": document["user_id"],
        "session_id": document["id"],
        "progression": ladder,
        "pain": document["pain"],
    }


async def _queue(
    connection: AsyncConnection, partner_id: int, event_type: str, data: dict[str, Any], user_id: str | None
) -> None:
    await outbox.enqueue(connection, partner_id=partner_id, event_type=event_type, data=data, user_id=user_id)


def stored_session_events(
    subscriptions: Subscriptions, *, partner_id: int, document: Document, catalogue: LiveCatalogue
) -> list[outbox.Event]:
    """The events of a new session (not a replay) its partner asked for: `session.created`, and
    its safety events."""
    if not wants_any(subscriptions, partner_id, STORED_SESSION_EVENTS):
        return []
    user_id = document["user_id"]
    found = []
    if subscriptions.wants(partner_id, SESSION_CREATED):
        found.append(outbox.Event(SESSION_CREATED, session_data(document), user_id))
    if document["red_flags"] and subscriptions.wants(partner_id, RED_FLAG):
        found.append(outbox.Event(RED_FLAG, red_flag_data(document, catalogue), user_id))
    if subscriptions.wants(partner_id, PAIN_STOP) and (ladder := pain_stop_ladder(document, catalogue)):
        found.append(outbox.Event(PAIN_STOP, pain_stop_data(document, ladder), user_id))
    return found


async def session_stored(
    connection: AsyncConnection,
    subscriptions: Subscriptions,
    *,
    partner_id: int,
    documents: Sequence[Document],
    catalogue: LiveCatalogue,
) -> None:
    """Queue the events of new sessions (one, or a batch's), in one go."""
    found = [
        event
        for document in documents
        for event in stored_session_events(subscriptions, partner_id=partner_id, document=document, catalogue=catalogue)
    ]
    await outbox.enqueue_many(connection, partner_id=partner_id, events=found)


async def session_patched(
    connection: AsyncConnection,
    subscriptions: Subscriptions,
    *,
    partner_id: int,
    before: Mapping[str, Any],
    after: Document,
    catalogue: LiveCatalogue,
) -> None:
    """A PATCH that changed the session (`before`: its stored row): `session.updated`;
    `safety.pain_stop` when the change made its pain reach the stop level (a session already
    there was told of when it was stored)."""
    if not wants_any(subscriptions, partner_id, (SESSION_UPDATED, PAIN_STOP)):
        return
    user_id = after["user_id"]
    if subscriptions.wants(partner_id, SESSION_UPDATED):
        await _queue(connection, partner_id, SESSION_UPDATED, session_data(after), user_id)
    if subscriptions.wants(partner_id, PAIN_STOP) and not _stop_reached(
        before["exercise"], before["progression"], [before[f"pain_{t}"] for t in PAIN_TIMES], catalogue
    ):
        if ladder := pain_stop_ladder(after, catalogue):
            await _queue(connection, partner_id, PAIN_STOP, pain_stop_data(after, ladder), user_id)


async def clearance_recorded(
    connection: AsyncConnection, subscriptions: Subscriptions, *, partner_id: int, document: Document
) -> None:
    if subscriptions.wants(partner_id, CLEARANCE_CREATED):
        data = {
            "user_id": document["user_id"],
            "clearance_id": document["id"],
            "cleared_at": document["cleared_at"],
        }
        await _queue(connection, partner_id, CLEARANCE_CREATED, data, document["user_id"])


async def user_erased(
    connection: AsyncConnection, subscriptions: Subscriptions, *, partner_id: int, user_id: str
) -> None:
    """Delete every queued message holding the user's data (their deliveries and attempts go
    with them: ON DELETE CASCADE, and SQLite enforces foreign keys here, app.db.engines), then
    queue `user.erased`."""
    mine = (col(WebhookMessage.partner_id) == partner_id, col(WebhookMessage.user_id) == user_id)
    await connection.execute(delete(WebhookMessage).where(*mine))
    if subscriptions.wants(partner_id, USER_ERASED):
        # Stored with no `user_id`: the notice holds nothing but the id the partner erased, and
        # must still reach the partner if the user is erased again (a retried DELETE) before
        # it is delivered, which would otherwise delete it unsent.
        await _queue(connection, partner_id, USER_ERASED, {"user_id": user_id}, None)
