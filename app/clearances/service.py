"""Recording and listing clearances. Every query is scoped to the calling partner; a user's
clearances are erased with them (`app.sessions.service.erase_user`)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.clearances.schemas import ClearanceIn
from app.clearances.tables import ClearanceRow
from app.db.rows import user_row
from app.db.transactions import Transaction
from app.idempotency.service import StoredAnswer, write_once
from app.kit import new_id, render, utc_text
from app.pagination import newest_first
from app.sealing import service as sealing
from app.webhooks import events
from app.webhooks.outbox import Subscriptions


def _document(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "cleared_at": utc_text(row["cleared_at"]),
        "received_at": utc_text(row["received_at"]),
        "note": row["note"],
    }


async def record_clearance(
    *,
    transaction: Transaction,
    subscriptions: Subscriptions,
    partner_id: int,
    user_id: str,
    body: ClearanceIn,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    """Store one clearance, received now (once per `Idempotency-Key`); the answer and whether it is a replay."""

    async def work(connection: AsyncConnection) -> StoredAnswer:
        row = {
            "id": new_id(),
            "partner_id": partner_id,
            "user_id": user_id,
            "cleared_at": body.cleared_at,
            "received_at": datetime.now(UTC),
            "note": body.note,
        }
        keys = await sealing.for_writing(connection, partner_id, {user_id} if body.note is not None else ())
        await connection.execute(insert(ClearanceRow).values(row | {"note": keys.seal(user_id, body.note)}))
        document = _document(row)
        await events.clearance_recorded(connection, subscriptions, partner_id=partner_id, document=document)
        return StoredAnswer(201, render(document), private_to=frozenset(keys.keys))

    return await write_once(
        transaction, partner_id=partner_id, key=idempotency_key, fingerprint=fingerprint, user_id=user_id, work=work
    )


async def get_clearance(
    *, connection: AsyncConnection, partner_id: int, user_id: str, clearance_id: str
) -> dict[str, Any]:
    """One clearance of the user, or NotFound."""
    row = await user_row(
        connection, ClearanceRow, partner_id=partner_id, user_id=user_id, row_id=clearance_id, what="clearance"
    )
    return _document((await sealing.opened(connection, partner_id, [row], "note"))[0])


async def list_clearances(
    *, connection: AsyncConnection, partner_id: int, user_id: str, after: tuple[datetime, int] | None, limit: int
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """One page, newest `cleared_at` first (then latest received), and the key to continue after."""
    query = select(ClearanceRow).where(col(ClearanceRow.partner_id) == partner_id, col(ClearanceRow.user_id) == user_id)
    rows, last = await newest_first(
        connection, query, moment=col(ClearanceRow.cleared_at), tie=col(ClearanceRow.seq), after=after, limit=limit
    )
    return [_document(row) for row in await sealing.opened(connection, partner_id, rows, "note")], last
