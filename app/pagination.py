"""The one pagination helper: opaque keyset cursors and the `Link: rel="next"` header."""

import base64
import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import InvalidRequest

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1–100).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`.")
]


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, parts: tuple[Callable[[Any], Any], ...]) -> tuple | None:
    """The sort key a cursor stands for, each part converted by its function (`int`, `str`,
    `datetime.fromisoformat`...); a cursor this service did not make is a 422."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or len(key) != len(parts):
            raise ValueError("wrong shape")
        return tuple(_exactly(convert, value) for convert, value in zip(parts, key, strict=True))
    except (ValueError, TypeError):
        raise InvalidRequest("The cursor is not one this service issued.", loc=["query", "cursor"]) from None


_BIGINT = range(-(2**63), 2**63)  # what the databases compare a number with


def _exactly(convert: Callable[[Any], Any], value: Any) -> Any:
    if convert in (int, str) and type(value) is not convert:  # no silent "3" -> 3 or 3 -> "3"
        raise TypeError(f"expected {convert.__name__}")
    if isinstance(value, int) and value not in _BIGINT:
        raise ValueError("number out of range")
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL refuses NUL in text
        raise ValueError("NUL character")
    return convert(value)


def next_link(path: str, params: dict[str, Any], next_cursor: str | None) -> dict[str, str]:
    """Headers for a page: `Link` to the next page with the same filters, when there is one."""
    if next_cursor is None:
        return {}
    query = {k: v for k, v in params.items() if v is not None and k != "cursor"} | {"cursor": next_cursor}
    return {"Link": f'<{path}?{urlencode(query)}>; rel="next"'}


async def newest_first(
    connection: AsyncConnection,
    query: Select,
    *,
    moment: Any,  # a table's column (`col(Table.field)`): its name reads the key back
    tie: Any,
    after: tuple[Any, Any] | None,
    limit: int,
) -> tuple[list[Any], tuple[Any, Any] | None]:
    """One page of `query`'s rows (as mappings), latest `moment` first, `tie` breaking ties
    (latest first too), after the key `after`; and the key to continue after, if there is more."""
    if after is not None:
        query = query.where(tuple_(moment, tie) < tuple_(*after))
    query = query.order_by(moment.desc(), tie.desc()).limit(limit + 1)
    rows = list((await connection.execute(query)).mappings().all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1][moment.key], rows[-1][tie.key]) if more else None)


def next_page(
    request: Request, response: Response, last: tuple[Any, Any] | None, filters: dict[str, Any]
) -> str | None:
    """The `next_cursor` of a page that stopped at the key `last` (a moment and a tie-breaker),
    with the `Link` to the next page set on `response` (the same `filters`)."""
    next_cursor = encode_cursor([last[0].isoformat(), last[1]]) if last else None
    response.headers.update(next_link(request.url.path, filters, next_cursor))
    return next_cursor
