"""A row of a table whose rows each belong to one user of one partner (sessions, clearances,
outcome scores: `partner_id`, `user_id`, `id` columns)."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

from app.errors import NotFound


async def user_row(
    connection: AsyncConnection, table: type[SQLModel], *, partner_id: int, user_id: str, row_id: str, what: str
) -> dict[str, Any]:
    """The user's row with this id (its columns by name), or NotFound: "There is no `what` ..."."""
    columns = table.__table__.c  # type: ignore[attr-defined]
    found = await connection.execute(
        select(table).where(columns.partner_id == partner_id, columns.user_id == user_id, columns.id == row_id)
    )
    row = found.mappings().first()
    if row is None:
        raise NotFound(f"There is no {what} {row_id!r} for user {user_id!r}.")
    return dict(row)
