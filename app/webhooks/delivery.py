"""Delivering the outbox: every replica runs one `Deliverer`, which claims due deliveries and
sends them, signed as Standard Webhooks specifies (the `standardwebhooks` package).

- **Claiming.** A delivery is claimed by setting a lease on it in one statement (`FOR UPDATE
  SKIP LOCKED` on PostgreSQL, so replicas claim different rows; SQLite runs one writer at a
  time). A replica that dies mid-send leaves a lease that runs out, and the delivery is sent
  again: at least once, never twice at once while replicas are healthy.
- **Sending.** `POST` with `webhook-id` (the message's id, the same on every attempt and
  replay), `webhook-timestamp` and `webhook-signature` (one signature per live secret: the
  previous one too for a day after a rotation). httpx, 15 s, no redirects; the URL is checked
  again before each attempt (`checked_url`: a name may have moved to a private address). At
  most `MAX_IN_FLIGHT` sends at once per replica, `PER_ENDPOINT` per endpoint, so one slow
  endpoint cannot hold up the others.
- **Outcomes.** A 2xx delivers. A 410 disables the endpoint. Anything else (3xx included, or
  no answer) is a failed attempt, retried on `schedule` (±10 %); a 429 or 503 with
  `Retry-After` waits at least that long. After the last attempt the delivery is `failed`.
  An endpoint whose attempts have all failed for `DISABLE_AFTER` is disabled.
"""

import asyncio
import logging
import random
from collections.abc import Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from app.db.transactions import Transaction
from app.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from app.webhooks.urls import RefusedUrl, checked_url

T = TypeVar("T")
logger = logging.getLogger("stepwise.webhooks")
# httpx logs every request at INFO with its URL, and a partner's URL may carry a token of theirs.
logging.getLogger("httpx").setLevel(logging.WARNING)

# Seconds to wait after each failed attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
TIMEOUT_SECONDS = 15.0
# Long enough for a claimed batch queued behind one slow endpoint (15 s a send, `PER_ENDPOINT` at a time).
LEASE = timedelta(minutes=5)
DISABLE_AFTER = timedelta(days=5)
MAX_IN_FLIGHT = 32
PER_ENDPOINT = 4
# A write queuing deliveries wakes its replica's deliverer at once; the others find them by polling.
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    attempts: int
    message_id: str
    body: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    failing: bool  # every attempt to the endpoint failed lately (`failing_since` set)


def schedule_from(text: str | None) -> tuple[float, ...]:
    """`STEPWISE_WEBHOOK_RETRY_SECONDS` ("1,2,5") as the schedule; the standard one without it."""
    if not text:
        return SCHEDULE
    return tuple(float(part) for part in text.split(",") if part.strip())


def signature(message_id: str, at: datetime, body: str, secrets: Sequence[str]) -> str:
    """The `webhook-signature` header: a signature per live secret, space-separated."""
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


def retry_after(response: httpx.Response) -> float:
    """The seconds a 429 or 503 asks to wait (`Retry-After` in seconds), else 0."""
    if response.status_code not in (429, 503):
        return 0.0
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 0.0


class Deliverer:
    """Claims and sends this replica's share of the due deliveries, until cancelled."""

    def __init__(
        self,
        transaction: Transaction,
        *,
        schedule: Sequence[float] = SCHEDULE,
        allow_private: bool = False,
        client: httpx.AsyncClient | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self._lease = lease
        self._transaction = transaction
        self._schedule = tuple(schedule)
        self._allow_private = allow_private
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        self._per_endpoint: dict[str, asyncio.Semaphore] = {}
        self._wake = asyncio.Event()
        self._active = 0  # claimed and not yet recorded: never more than MAX_IN_FLIGHT
        self._backlog = False  # the last claim took all there was room for
        self._writing: set[asyncio.Future[Any]] = set()  # claims and outcomes being written (`_finished`)
        self.outcomes: dict[str, int] = {}  # attempts by outcome, for /metrics

    def wake(self) -> None:
        """Look for due deliveries now (a write on this replica queued some)."""
        self._wake.set()

    async def run(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()  # (before claiming: a wake while the claim runs claims again)
                room = MAX_IN_FLIGHT - self._active
                claimed: list[Claimed] = []
                if room > 0:
                    try:
                        claim = self._transaction(self._claim, now=datetime.now(UTC), limit=room)
                        claimed = await self._finished(claim)
                    except Exception as error:  # the database out of reach: try again shortly
                        logger.warning("claiming webhook deliveries failed: %s", type(error).__name__)
                    # As many as there was room for: more may be due, so claim again once half are sent.
                    self._backlog = len(claimed) == room
                for delivery in claimed:
                    self._active += 1
                    task = asyncio.create_task(self._send_bounded(delivery))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        finally:
            # Each send ended before the caller goes on (to dispose of the engine: a send
            # recording its outcome on a closed engine would never end).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, *self._writing, return_exceptions=True)
            await self._client.aclose()

    async def _claim(self, *, connection: AsyncConnection, now: datetime, limit: int) -> list[Claimed]:
        due = (
            select(col(WebhookDelivery.id))
            .where(
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
                or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) <= now),
                # A disabled endpoint's deliveries wait, pending, until it is enabled again.
                col(WebhookDelivery.endpoint_id).in_(
                    select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.enabled))
                ),
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = (await connection.execute(due)).scalars().all()
        if not ids:
            return []
        await connection.execute(
            update(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)).values(lease_until=now + self._lease)
        )
        rows: Any = await connection.execute(
            select(
                col(WebhookDelivery.id),
                col(WebhookDelivery.attempts),
                col(WebhookMessage.id).label("message_id"),
                col(WebhookMessage.body),
                col(WebhookEndpoint.id).label("endpoint_id"),
                col(WebhookEndpoint.url),
                col(WebhookEndpoint.secret),
                col(WebhookEndpoint.previous_secret),
                col(WebhookEndpoint.previous_secret_until),
                col(WebhookEndpoint.failing_since),
            )
            .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(col(WebhookDelivery.id).in_(ids))
        )
        claimed = []
        for row in rows:
            previous_live = row.previous_secret and row.previous_secret_until and row.previous_secret_until > now
            secrets = (row.secret, row.previous_secret) if previous_live else (row.secret,)
            failing = row.failing_since is not None
            claimed.append(
                Claimed(row.id, row.attempts, row.message_id, row.body, row.endpoint_id, row.url, secrets, failing)
            )
        return claimed

    async def _send_bounded(self, delivery: Claimed) -> None:
        endpoint = self._per_endpoint.setdefault(delivery.endpoint_id, asyncio.Semaphore(PER_ENDPOINT))
        try:
            async with endpoint:
                await self.send(delivery)
        except Exception:  # recorded nothing: the lease runs out and it is sent again
            logger.exception("webhook delivery %s failed unexpectedly", delivery.delivery_id)
        finally:
            self._active -= 1
            if self._backlog and self._active <= MAX_IN_FLIGHT // 2:
                self._backlog = False
                self._wake.set()

    async def send(self, delivery: Claimed) -> None:
        """One attempt, and its outcome stored."""
        at = datetime.now(UTC)
        status: int | None = None
        error: str | None = None
        wait = 0.0
        try:
            await checked_url(delivery.url, allow_private=self._allow_private)
            response = await self._client.post(
                delivery.url,
                content=delivery.body.encode(),
                headers={
                    "content-type": "application/json",
                    "user-agent": "Stepwise-Webhooks/1",
                    "webhook-id": delivery.message_id,
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": signature(delivery.message_id, at, delivery.body, delivery.secrets),
                },
            )
            status, wait = response.status_code, retry_after(response)
        except RefusedUrl as refused:
            error = f"refused: the URL {refused}"[:200]
        except httpx.HTTPError as failed:
            error = (type(failed).__name__ + (f": {failed}" if str(failed) else ""))[:200]
        await self._finished(
            self._transaction(self._record, delivery=delivery, at=at, status=status, error=error, wait=wait)
        )

    async def _finished(self, write: Coroutine[Any, Any, T]) -> T:
        """`write`'s result; cancelled meanwhile (the replica stopping), `write` still runs to its
        end (`run` waits for it): a database write cut off mid-way can leave its connection
        holding SQLite's write lock, or a claim half made."""
        task = asyncio.ensure_future(write)
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        return await asyncio.shield(task)

    async def _record(
        self,
        *,
        connection: AsyncConnection,
        delivery: Claimed,
        at: datetime,
        status: int | None,
        error: str | None,
        wait: float,
    ) -> None:
        attempts = delivery.attempts + 1
        await connection.execute(
            insert(WebhookAttempt).values(delivery_id=delivery.delivery_id, at=at, response_status=status, error=error)
        )
        endpoint = col(WebhookEndpoint.id) == delivery.endpoint_id
        changes: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
            changes |= {"status": "delivered", "next_attempt_at": None}
            if delivery.failing:
                await connection.execute(update(WebhookEndpoint).where(endpoint).values(failing_since=None))
        elif status == 410:
            outcome = "gone"
            changes |= {"status": "failed", "next_attempt_at": None}
            await connection.execute(update(WebhookEndpoint).where(endpoint).values(enabled=False))
        else:
            outcome = "failed"
            if attempts <= len(self._schedule):
                delay = max(self._schedule[attempts - 1] * random.uniform(0.9, 1.1), wait)
                changes |= {"next_attempt_at": at + timedelta(seconds=delay)}
            else:
                changes |= {"status": "failed", "next_attempt_at": None}
            await self._note_failure(connection, delivery.endpoint_id, at)
        await connection.execute(
            update(WebhookDelivery).where(col(WebhookDelivery.id) == delivery.delivery_id).values(changes)
        )
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    async def _note_failure(self, connection: AsyncConnection, endpoint_id: str, at: datetime) -> None:
        """Mark since when the endpoint fails; disable it after `DISABLE_AFTER` of nothing but failures."""
        endpoint = col(WebhookEndpoint.id) == endpoint_id
        await connection.execute(
            update(WebhookEndpoint)
            .where(endpoint, col(WebhookEndpoint.failing_since).is_(None))
            .values(failing_since=at)
        )
        await connection.execute(
            update(WebhookEndpoint)
            .where(endpoint, col(WebhookEndpoint.failing_since) <= at - DISABLE_AFTER)
            .values(enabled=False)
        )
