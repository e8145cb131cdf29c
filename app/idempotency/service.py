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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlmodel import Session, col

from app.db import insert_skipping_conflicts
from app.errors import Conflict, DomainError, InvalidRequest, problem_document
from app.idempotency.tables import IdempotencyRecord, IdempotencyUser

RETENTION = timedelta(hours=24)
_IN_FLIGHT = 0


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: str


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, session: Session, partner_id: int, key: str, fingerprint: str) -> StoredAnswer | None:
    """Claim `key` for this request; or, when a committed request holds it, its answer to replay."""
    now = datetime.now(UTC)
    statement = insert_skipping_conflicts(session.get_bind(), IdempotencyRecord, ["partner_id", "key"]).values(
        partner_id=partner_id,
        key=key,
        request_hash=fingerprint,
        status_code=_IN_FLIGHT,
        response_body="",
        expires_at=now + RETENTION,
    )
    if session.execute(statement.returning(col(IdempotencyRecord.key))).first() is not None:
        return None  # claimed: this request does the work
    existing = session.execute(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.partner_id) == partner_id, col(IdempotencyRecord.key) == key
        )
    ).scalar_one_or_none()
    if existing is None or existing.expires_at <= now:  # gone meanwhile, or kept past its 24 hours
        session.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.partner_id) == partner_id, col(IdempotencyRecord.key) == key
            )
        )
        return claim(session=session, partner_id=partner_id, key=key, fingerprint=fingerprint)
    if existing.request_hash != fingerprint:
        raise InvalidRequest(
            "This Idempotency-Key was already used with a different request.", loc=["header", "Idempotency-Key"]
        )
    if existing.status_code == _IN_FLIGHT:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")
    return StoredAnswer(status=existing.status_code, body=existing.response_body)


def remember(*, session: Session, partner_id: int, key: str, answer: StoredAnswer, user_ids: set[str]) -> None:
    record = session.execute(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.partner_id) == partner_id, col(IdempotencyRecord.key) == key
        )
    ).scalar_one()
    record.status_code, record.response_body = answer.status, answer.body
    session.add(record)
    session.add_all(IdempotencyUser(partner_id=partner_id, key=key, user_id=u) for u in sorted(user_ids))
    session.flush()


def run_once(
    *,
    session: Session,
    partner_id: int,
    key: str | None,
    fingerprint: str,
    user_ids: Callable[[], set[str]],
    work: Callable[[], StoredAnswer],
) -> tuple[StoredAnswer, bool]:
    """(answer, replayed): run `work` once per Idempotency-Key, replaying its answer on retries.

    `user_ids` names whose data the answer holds, so erasing one of them erases the answer too.
    """
    if key is None:
        return work(), False
    stored = claim(session=session, partner_id=partner_id, key=key, fingerprint=fingerprint)
    if stored is not None:
        return stored, True
    try:
        with session.begin_nested():
            answer = work()
    except DomainError as refusal:
        # A refusal is the first answer too (nothing of the work is kept): a retry gets it
        # again, and the same key with another body is told the key is taken.
        answer = StoredAnswer(refusal.status, orjson.dumps(problem_document(refusal.problem())).decode())
    remember(session=session, partner_id=partner_id, key=key, answer=answer, user_ids=user_ids())
    return answer, False


def forget_user(*, session: Session, partner_id: int, user_id: str) -> None:
    """Delete every stored answer that holds any of this user's data."""
    keys = (
        session.execute(
            select(col(IdempotencyUser.key)).where(
                col(IdempotencyUser.partner_id) == partner_id, col(IdempotencyUser.user_id) == user_id
            )
        )
        .scalars()
        .all()
    )
    for table in (IdempotencyUser, IdempotencyRecord):
        session.execute(delete(table).where(col(table.partner_id) == partner_id, col(table.key).in_(keys)))


def purge_expired(*, session: Session) -> int:
    """Delete answers kept past their 24 hours; returns how many went."""
    expired = delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= datetime.now(UTC))
    return len(session.execute(expired.returning(col(IdempotencyRecord.key))).all())
