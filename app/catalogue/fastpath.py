"""The fast lane of every catalogue read: its answer straight from memory.

The front door (`app.frontdoor`) has found the route and authorised the caller; when the
answer for this URL is already rendered in the caller's view of the catalogue (the shared one,
for a partner without content of its own), it is sent from here: no routing, no middleware, no
dependency injection. Otherwise (the first request for a URL) the route renders and caches it,
and owns every error response, so both ways give identical answers.

The rule this rests on: a cached answer may depend only on the path, the query string and the
catalogue version (the cache's key). Anything that varies by caller, by time or by a header
other than the conditional and encoding ones must not be rendered into the cache.
"""

from collections.abc import Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from app.dependencies import Access
from app.request_id import NOSNIFF, header_value, request_id_of
from app.state import AppState


async def answer_from_cache(
    state: AppState, access: Access, params: Mapping[str, Any], scope: Scope, receive: Receive, send: Send
) -> tuple[int | None, Receive]:
    """(The status answered, or None to leave the request to the route; `receive`)."""
    entry = access.catalogue.cached_response(scope["path"], scope["query_string"])
    if entry is None:
        return None, receive
    status, answer_headers, body = entry.respond(
        header_value(scope, b"if-none-match"), header_value(scope, b"accept-encoding")
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*answer_headers, (b"x-request-id", request_id_of(scope)), NOSNIFF],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status, receive
