"""`Idempotency-Key`: a retried write returns the first answer instead of writing twice.

The record is claimed (inserted) at the start of the request's transaction and filled with the
answer before it commits, so it exists only if the work it protects was committed. A duplicate
arriving meanwhile blocks on the claim's uniqueness until the first request commits (then it
replays the answer) or dies (then the claim vanishes with its transaction and the duplicate
proceeds as the first). A request the service refused (409, 422) keeps its key with that answer;
one that never reached the service (malformed, unauthenticated) leaves the key unused.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from starlette.requests import Request

from app.db.transactions import Transaction
from app.db.types import insert_skipping_conflicts
from app.errors import Conflict, DomainError, InvalidRequest, problem_document
from app.idempotency.tables import IdempotencyRecord, IdempotencyUser
from app.sealing import service as sealing

RETENTION = timedelta(hours=24)
_IN_FLIGHT = 0


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: str
    # The users whose free text the body holds: kept sealed under their keys (`app.sealing`).
    private_to: frozenset[str] = frozenset()


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint_of(request: Request, idempotency_key: str | None, body: Callable[[], Any]) -> str:
    """What a retry under the same key must repeat (method, path, `body()`); only worked out when
    a key was sent."""
    return request_fingerprint(request.method, request.url.path, body()) if idempotency_key else ""


async def claim(*, connection: AsyncConnection, partner_id: int, key: str, fingerprint: str) -> StoredAnswer | None:
    """Claim `key` for this request; or, when a committed request holds it, its answer to replay."""
    now = datetime.now(UTC)
    statement = insert_skipping_conflicts(connection.dialect.name, IdempotencyRecord, ["partner_id", "key"]).values(
        partner_id=partner_id,
        key=key,
        request_hash=fingerprint,
        status_code=_IN_FLIGHT,
        response_body="",
        expires_at=now + RETENTION,
    )
    if (await connection.execute(statement.returning(col(IdempotencyRecord.key)))).first() is not None:
        return None  # claimed: this request does the work
    this_key = (col(IdempotencyRecord.partner_id) == partner_id, col(IdempotencyRecord.key) == key)
    existing = (await connection.execute(select(IdempotencyRecord).where(*this_key))).mappings().first()
    if existing is None or existing["expires_at"] <= now:  # gone meanwhile, or kept past its 24 hours
        await connection.execute(delete(IdempotencyRecord).where(*this_key))
        return await claim(connection=connection, partner_id=partner_id, key=key, fingerprint=fingerprint)
    if existing["request_hash"] != fingerprint:
        raise InvalidRequest(
            "This Idempotency-Key was already used with a different request.", loc=["header", "Idempotency-Key"]
        )
    if existing["status_code"] == _IN_FLIGHT:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")
    body = await sealing.open_answer(connection, partner_id, existing["response_body"])
    return StoredAnswer(status=existing["status_code"], body=body)


async def remember(
    *, connection: AsyncConnection, partner_id: int, key: str, answer: StoredAnswer, user_ids: set[str]
) -> None:
    body = answer.body
    if answer.private_to:  # (their keys exist: their text was just stored, or read, under them)
        keys = await sealing.for_reading(connection, partner_id, answer.private_to)
        body = keys.seal_answer(body, answer.private_to)
    await connection.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.partner_id) == partner_id, col(IdempotencyRecord.key) == key)
        .values(status_code=answer.status, response_body=body)
    )
    if user_ids:
        await connection.execute(
            insert(IdempotencyUser), [{"partner_id": partner_id, "key": key, "user_id": u} for u in sorted(user_ids)]
        )


async def run_once(
    *,
    connection: AsyncConnection,
    partner_id: int,
    key: str | None,
    fingerprint: str,
    user_ids: Callable[[], set[str]],
    work: Callable[[], Awaitable[StoredAnswer]],
) -> tuple[StoredAnswer, bool]:
    """(answer, replayed): run `work` once per Idempotency-Key, replaying its answer on retries.

    `user_ids` names whose data the answer holds, so erasing one of them erases the answer too.
    """
    if key is None:
        return await work(), False
    stored = await claim(connection=connection, partner_id=partner_id, key=key, fingerprint=fingerprint)
    if stored is not None:
        return stored, True
    try:
        async with connection.begin_nested():
            answer = await work()
    except DomainError as refusal:
        # A refusal is the first answer too (nothing of the work is kept): a retry gets it
        # again, and the same key with another body is told the key is taken.
        answer = StoredAnswer(refusal.status, orjson.dumps(problem_document(refusal.problem())).decode())
    await remember(connection=connection, partner_id=partner_id, key=key, answer=answer, user_ids=user_ids())
    return answer, False


async def write_once(
    transaction: Transaction,
    *,
    partner_id: int,
    key: str | None,
    fingerprint: str,
    user_id: str,
    work: Callable[[AsyncConnection], Awaitable[StoredAnswer]],
) -> tuple[StoredAnswer, bool]:
    """(answer, replayed): `work` (a write for one user) in one transaction of its own, once
    per Idempotency-Key (`run_once`)."""

    async def once(*, connection: AsyncConnection) -> tuple[StoredAnswer, bool]:
        return await run_once(
            connection=connection,
            partner_id=partner_id,
            key=key,
            fingerprint=fingerprint,
            user_ids=lambda: {user_id},
            work=lambda: work(connection),
        )

    return await transaction(once)


async def forget_user(*, connection: AsyncConnection, partner_id: int, user_id: str) -> None:
    """Delete every stored answer that holds any of this user's data (the user's key is
    deleted first, `app.sealing.service.forget`)."""
    holding = select(col(IdempotencyUser.key)).where(
        col(IdempotencyUser.partner_id) == partner_id, col(IdempotencyUser.user_id) == user_id
    )
    keys = (await connection.execute(holding)).scalars().all()
    for table in (IdempotencyUser, IdempotencyRecord):
        await connection.execute(delete(table).where(col(table.partner_id) == partner_id, col(table.key).in_(keys)))


def purge_expired(*, connection: Connection) -> int:
    """Delete answers kept past their 24 hours; returns how many went. Synchronous: it runs
    from the periodic job (`app.background`) on the start-up engine, not on a request."""
    expired = delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= datetime.now(UTC))
    return len(connection.execute(expired.returning(col(IdempotencyRecord.key))).all())
