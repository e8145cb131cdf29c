"""The outbox: an event is written in the same transaction as the change it tells of, with one
delivery per endpoint of the partner that asked for its type, so a 2xx for a write means its
events will be delivered (`app.webhooks.delivery` sends them, on every replica).

Which partners asked for which event types is held in memory (`Subscriptions`, reloaded every
few seconds and at once on the replica where an endpoint changes), so a write of a partner
without endpoints costs nothing. An endpoint gets the events of writes made from a few seconds
after it was registered on another replica (at once on its own).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ARRAY, Insert, Select, Text, and_, bindparam, cast, func, insert, literal, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Session, col

from app.db.transactions import notify_after_commit
from app.kit import new_id, utc_text
from app.webhooks.tables import WebhookDelivery, WebhookEndpoint, WebhookMessage


class Subscriptions:
    """The event types each partner's enabled endpoints asked for."""

    def __init__(self, by_partner: Mapping[int, Iterable[str]] | None = None) -> None:
        self.by_partner: dict[int, frozenset[str]] = {
            partner: frozenset(types) for partner, types in (by_partner or {}).items()
        }

    def adding(self, partner_id: int, event_types: Iterable[str]) -> "Subscriptions":
        """These, and what an endpoint just registered or changed on this replica asks for (a
        removal waits for the next reload: until then `enqueue` finds no endpoint, and stores nothing)."""
        added = Subscriptions()
        added.by_partner = self.by_partner | {
            partner_id: self.by_partner.get(partner_id, frozenset()) | set(event_types)
        }
        return added

    def wants(self, partner_id: int, event_type: str) -> bool:
        types = self.by_partner.get(partner_id)
        return types is not None and event_type in types


def load_subscriptions(session: Session) -> Subscriptions:
    """Every partner's subscribed event types, from its enabled endpoints."""
    rows = session.execute(
        select(col(WebhookEndpoint.partner_id), col(WebhookEndpoint.events)).where(col(WebhookEndpoint.enabled))
    )
    by_partner: dict[int, set[str]] = {}
    for partner_id, events in rows:
        by_partner.setdefault(partner_id, set()).update(events)
    return Subscriptions(by_partner)


def message_body(event_type: str, data: Mapping[str, Any], now: datetime) -> str:
    """The JSON body every attempt sends (and signs): `{type, timestamp, data}`."""
    return orjson.dumps({"type": event_type, "timestamp": utc_text(now), "data": data}).decode()


# What a commit that queued deliveries signals (`app.db.transactions`): the replica's deliverer wakes.
QUEUED = "webhooks.queued"


class Event(NamedTuple):
    """An event to queue: its type, its `data`, and whose data it holds (for erasure)."""

    event_type: str
    data: Mapping[str, Any]
    user_id: str | None = None


async def enqueue(
    connection: AsyncConnection,
    *,
    partner_id: int,
    event_type: str,
    data: Mapping[str, Any],
    user_id: str | None = None,
    endpoint_id: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Queue one event (see `enqueue_many`); its message id, or None when no endpoint wants it.
    With `endpoint_id`, for that endpoint only, whatever types it asked for (the test event)."""
    queued = await enqueue_many(
        connection, partner_id=partner_id, events=[Event(event_type, data, user_id)], endpoint_id=endpoint_id, now=now
    )
    return queued[0] if queued else None


async def enqueue_many(
    connection: AsyncConnection,
    *,
    partner_id: int,
    events: Sequence[Event],
    endpoint_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Queue each event for every enabled endpoint of the partner that asked for its type, in
    three statements whatever their number (a batch queues hundreds): the endpoints read, the
    messages and their deliveries inserted. The ids of the messages stored (none for an event
    no endpoint wants: nothing about it is kept)."""
    if not events:
        return []
    now = now or datetime.now(UTC)
    query = select(col(WebhookEndpoint.id), col(WebhookEndpoint.events)).where(
        col(WebhookEndpoint.partner_id) == partner_id, col(WebhookEndpoint.enabled)
    )
    if endpoint_id is not None:
        query = query.where(col(WebhookEndpoint.id) == endpoint_id)
    endpoints = (await connection.execute(query)).all()
    messages: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for event in events:
        wanting = [row.id for row in endpoints if endpoint_id is not None or event.event_type in row.events]
        if not wanting:
            continue
        message_id = "msg_" + new_id()
        body = message_body(event.event_type, event.data, now)
        messages.append(
            {"id": message_id, "partner_id": partner_id, "user_id": event.user_id, "type": event.event_type}
            | {"body": body, "created_at": now}
        )
        deliveries += [
            {
                "message_id": message_id,
                "endpoint_id": endpoint,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            for endpoint in wanting
        ]
    if messages:
        await connection.execute(insert(WebhookMessage), messages)
        await connection.execute(insert(WebhookDelivery), deliveries)
        notify_after_commit(connection, QUEUED)
    return [str(message["id"]) for message in messages]


def queued_with(stored: Insert) -> Select:
    """One PostgreSQL statement: `stored`, an INSERT that may insert nothing (a conflict) and
    RETURNs the new row's `id`, `partner_id`, `user_id` and `received_at`; and, only when it
    inserted, the events given as arrays (`event_parameters`) queued for every enabled endpoint
    of that partner that asked for their type, as `enqueue_many` queues them. So a write and its
    outbox rows are one round trip (data-modifying WITH clauses: all or nothing, one snapshot).

    It answers one row, (`id`, `queued`: the deliveries queued), or none when `stored` inserted nothing."""
    written = stored.cte("stored")
    incoming = (
        func.unnest(
            bindparam("message_ids", type_=ARRAY(Text)),
            bindparam("event_types", type_=ARRAY(Text)),
            bindparam("bodies", type_=ARRAY(Text)),
        )
        .table_valued("id", "type", "body")
        .render_derived(name="incoming")
    )
    message = WebhookMessage.__table__.c  # type: ignore[attr-defined]
    messages = (
        insert(WebhookMessage)
        .from_select(
            ["id", "partner_id", "user_id", "type", "body", "created_at"],
            select(
                incoming.c.id,
                written.c.partner_id,
                written.c.user_id,
                incoming.c.type,
                incoming.c.body,
                written.c.received_at,
            ).select_from(incoming.join(written, true())),
        )
        .returning(message.id, message.partner_id, message.type, message.created_at)
        .cte("messages")
    )
    endpoint = WebhookEndpoint.__table__.c  # type: ignore[attr-defined]
    wanted = and_(
        endpoint.partner_id == messages.c.partner_id,
        endpoint.enabled,
        cast(endpoint.events, JSONB).contains(func.jsonb_build_array(messages.c.type)),
    )
    deliveries = (
        insert(WebhookDelivery)
        .from_select(
            ["message_id", "endpoint_id", "status", "attempts", "next_attempt_at"],
            select(messages.c.id, endpoint.id, literal("pending"), literal(0), messages.c.created_at).select_from(
                messages.join(WebhookEndpoint, wanted)
            ),
        )
        .returning(WebhookDelivery.__table__.c.id)  # type: ignore[attr-defined]
        .cte("deliveries")
    )
    queued = select(func.count()).select_from(deliveries).scalar_subquery()
    return select(written.c.id, queued.label("queued"))


def event_parameters(events: Sequence[Event], now: datetime) -> dict[str, list[str]]:
    """The parameters `queued_with` takes for these events (all the user's whose row it inserts)."""
    return {
        "message_ids": ["msg_" + new_id() for _ in events],
        "event_types": [event.event_type for event in events],
        "bodies": [message_body(event.event_type, event.data, now) for event in events],
    }
