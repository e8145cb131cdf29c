"""An endpoint's messages: the log of what was sent (kept 7 days), replaying it, and the test
event. Every query is scoped to the calling partner's endpoint: another partner's is not found."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db.transactions import notify_after_commit
from app.errors import NotFound
from app.kit import utc_text
from app.webhooks.outbox import QUEUED, enqueue
from app.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

KEPT = timedelta(days=7)


async def _own(connection: AsyncConnection, partner_id: int, endpoint_id: str) -> None:
    found = await connection.scalar(
        select(col(WebhookEndpoint.id)).where(
            col(WebhookEndpoint.partner_id) == partner_id, col(WebhookEndpoint.id) == endpoint_id
        )
    )
    if found is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id!r}.")


async def list_deliveries(
    *,
    connection: AsyncConnection,
    partner_id: int,
    endpoint_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """One page of the endpoint's messages, newest first, each with its attempts; and the key
    to continue after."""
    await _own(connection, partner_id, endpoint_id)
    created, message_id = col(WebhookMessage.created_at), col(WebhookMessage.id)
    query = (
        select(col(WebhookDelivery.id), message_id, col(WebhookMessage.type), created, col(WebhookDelivery.status))
        .join(WebhookMessage, message_id == col(WebhookDelivery.message_id))
        .where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    )
    if after is not None:
        query = query.where(tuple_(created, message_id) < tuple_(*after))
    rows = (await connection.execute(query.order_by(created.desc(), message_id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    attempts: dict[Any, list[dict[str, Any]]] = {row[0]: [] for row in rows}
    if rows:
        found = await connection.execute(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(list(attempts)))
            .order_by(col(WebhookAttempt.at), col(WebhookAttempt.id))
        )
        for attempt in found.mappings():
            attempts[attempt["delivery_id"]].append(
                {
                    "at": utc_text(attempt["at"]),
                    "response_status": attempt["response_status"],
                    "error": attempt["error"],
                }
            )
    items = [
        {"id": row[1], "type": row[2], "created_at": utc_text(row[3]), "status": row[4], "attempts": attempts[row[0]]}
        for row in rows
    ]
    return items, ((rows[-1][3], rows[-1][1]) if more else None)


async def replay(*, connection: AsyncConnection, partner_id: int, endpoint_id: str, since: datetime) -> int:
    """Queue again every message for the endpoint created since `since` (same `webhook-id`);
    how many."""
    await _own(connection, partner_id, endpoint_id)
    ids = select(col(WebhookMessage.id)).where(col(WebhookMessage.created_at) >= since)
    replayed = await connection.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.endpoint_id) == endpoint_id, col(WebhookDelivery.message_id).in_(ids))
        .values(status="pending", attempts=0, next_attempt_at=datetime.now(since.tzinfo), lease_until=None)
    )
    if replayed.rowcount:
        notify_after_commit(connection, QUEUED)
    return replayed.rowcount or 0


async def send_test(*, connection: AsyncConnection, partner_id: int, endpoint_id: str) -> str | None:
    """Queue one `webhook.test` event for the endpoint (if enabled); its message id."""
    await _own(connection, partner_id, endpoint_id)
    return await enqueue(connection, partner_id=partner_id, event_type="webhook.test", data={}, endpoint_id=endpoint_id)


async def purge_old(*, connection: AsyncConnection, now: datetime) -> int:
    """Delete messages older than `KEPT` (their deliveries and attempts go with them: ON DELETE CASCADE)."""
    purged = await connection.execute(delete(WebhookMessage).where(col(WebhookMessage.created_at) < now - KEPT))
    return purged.rowcount or 0


async def queue_state(*, connection: AsyncConnection) -> tuple[int, datetime | None]:
    """How many deliveries are pending, and when the oldest pending one's message was created."""
    row = (
        await connection.execute(
            select(func.count(col(WebhookDelivery.id)), func.min(col(WebhookMessage.created_at)))
            .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
            .where(col(WebhookDelivery.status) == "pending")
        )
    ).one()
    return row[0] or 0, row[1]
