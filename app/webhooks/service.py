"""Registering, reading, changing and removing a partner's webhook endpoints, and rotating their
secrets. Every query is scoped to the calling partner: another partner's endpoint is not found.
A URL is checked (`app.webhooks.urls.checked_url`) before any database work."""

import base64
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db.transactions import Transaction
from app.errors import Conflict, InvalidRequest, NotFound, ProblemError
from app.kit import new_id, utc_text
from app.partners.tables import Partner
from app.webhooks.schemas import WebhookIn, WebhookPatch
from app.webhooks.tables import WebhookEndpoint
from app.webhooks.urls import RefusedUrl, checked_url

MAX_ENDPOINTS = 10
# After a rotation, deliveries are signed with the previous secret too, for this long.
PREVIOUS_SECRET_LIVES = timedelta(hours=24)


def new_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _document(row: Any) -> dict[str, Any]:
    """An endpoint as answered: never its secrets."""
    return {
        "id": row["id"],
        "url": row["url"],
        "events": list(row["events"]),
        "description": row["description"],
        "enabled": row["enabled"],
        "created_at": utc_text(row["created_at"]),
    }


async def _check(url: str, allow_private: bool) -> None:
    try:
        await checked_url(url, allow_private=allow_private)
    except RefusedUrl as refused:
        raise InvalidRequest.of([ProblemError(loc=["body", "url"], msg=f"The URL {refused}.")]) from None


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"There is no webhook endpoint {endpoint_id!r}.")


def _mine(partner_id: int, endpoint_id: str) -> list[Any]:
    return [col(WebhookEndpoint.partner_id) == partner_id, col(WebhookEndpoint.id) == endpoint_id]


async def create_endpoint(
    *, transaction: Transaction, partner_id: int, body: WebhookIn, allow_private: bool
) -> dict[str, Any]:
    """Register an endpoint (409 past `MAX_ENDPOINTS`); its document with its secret."""
    await _check(body.url, allow_private)

    async def work(*, connection: AsyncConnection) -> dict[str, Any]:
        # One partner's registrations one at a time (PostgreSQL; SQLite's writes already are),
        # so concurrent ones cannot pass the limit together.
        await connection.execute(select(col(Partner.id)).where(col(Partner.id) == partner_id).with_for_update())
        count = await connection.scalar(
            select(func.count()).select_from(WebhookEndpoint).where(col(WebhookEndpoint.partner_id) == partner_id)
        )
        if (count or 0) >= MAX_ENDPOINTS:
            raise Conflict(f"A partner has at most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
        row = {
            "id": new_id(),
            "partner_id": partner_id,
            "url": body.url,
            "events": list(dict.fromkeys(body.events)),
            "description": body.description,
            "enabled": True,
            "created_at": datetime.now(UTC),
            "secret": new_secret(),
        }
        await connection.execute(insert(WebhookEndpoint).values(row))
        return _document(row) | {"secret": row["secret"]}

    return await transaction(work)


async def list_endpoints(*, connection: AsyncConnection, partner_id: int) -> list[dict[str, Any]]:
    """Every endpoint of the partner, oldest first."""
    rows = await connection.execute(
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.partner_id) == partner_id)
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
    )
    return [_document(row) for row in rows.mappings().all()]


async def get_endpoint(*, connection: AsyncConnection, partner_id: int, endpoint_id: str) -> dict[str, Any]:
    """One endpoint of the partner, or NotFound."""
    found = (await connection.execute(select(WebhookEndpoint).where(*_mine(partner_id, endpoint_id)))).mappings()
    row = found.first()
    if row is None:
        raise _not_found(endpoint_id)
    return _document(row)


async def update_endpoint(
    *, transaction: Transaction, partner_id: int, endpoint_id: str, body: WebhookPatch, allow_private: bool
) -> dict[str, Any]:
    """Change the fields the patch names; the endpoint as it now is."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    if "url" in changes:
        await _check(changes["url"], allow_private)

    async def work(*, connection: AsyncConnection) -> dict[str, Any]:
        if changes:
            changed = await connection.execute(
                update(WebhookEndpoint).where(*_mine(partner_id, endpoint_id)).values(changes)
            )
            if changed.rowcount == 0:
                raise _not_found(endpoint_id)
        return await get_endpoint(connection=connection, partner_id=partner_id, endpoint_id=endpoint_id)

    return await transaction(work)


async def delete_endpoint(*, connection: AsyncConnection, partner_id: int, endpoint_id: str) -> None:
    """Remove an endpoint of the partner, or NotFound."""
    removed = await connection.execute(delete(WebhookEndpoint).where(*_mine(partner_id, endpoint_id)))
    if removed.rowcount == 0:
        raise _not_found(endpoint_id)


async def rotate_secret(*, connection: AsyncConnection, partner_id: int, endpoint_id: str) -> dict[str, str]:
    """Give the endpoint a new secret; the current one stays live for `PREVIOUS_SECRET_LIVES`."""
    secret = new_secret()
    rotated = await connection.execute(
        update(WebhookEndpoint)
        .where(*_mine(partner_id, endpoint_id))
        .values(
            previous_secret=col(WebhookEndpoint.secret),
            previous_secret_until=datetime.now(UTC) + PREVIOUS_SECRET_LIVES,
            secret=secret,
        )
    )
    if rotated.rowcount == 0:
        raise _not_found(endpoint_id)
    return {"secret": secret}
