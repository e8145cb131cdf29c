"""The hot path for catalogue reads, in front of the framework.

A catalogue GET whose answer is already rendered, sent with a key checked in the last few
seconds, is answered here straight from memory: no routing, no middleware, no dependency
injection, no thread hop. Everything else (first request for a URL, an unknown, stale or
insufficient key, any error) goes on to the FastAPI routes, which render and cache the answer
and own every error response, so both paths give identical answers.

The rule this rests on: a cached answer may depend only on the path, the query string and the
catalogue version (the cache's key), and it is looked up in the caller's partner's view (the
shared one, for a partner without content of its own). Anything that varies by caller, by time or by a header
other than the conditional and encoding ones must not be rendered into the cache.
"""

from typing import TYPE_CHECKING

from starlette.types import Message, Scope, Send

from app.catalogue.memory import LiveCatalogue
from app.http_errors import error_response
from app.partners.auth import KeyStore
from app.ratelimits import RateLimited, RateLimits
from app.request_id import NOSNIFF, PARTNER_KEY, request_headers, request_id_of, with_outer_headers

if TYPE_CHECKING:
    from app.content.views import PartnerViews

_SCOPE = "catalogue:read"


async def answer_from_cache(
    shared: LiveCatalogue, views: "PartnerViews", keys: KeyStore, limits: RateLimits, scope: Scope, send: Send
) -> tuple[str, str, int] | None:
    """Answer the request if it can be served from memory, returning (route, method, status) for
    the metrics; None leaves it to the framework. A partner with content of its own is answered
    from its own view's answers only (`views`), never from the shared ones."""
    entry = shared.cached_response(scope["path"], scope["query_string"])
    if entry is None and not views.contents:  # cached nowhere
        return None
    headers = request_headers(scope)
    authorization = headers.get(b"authorization")
    if_none_match, accept_encoding = headers.get(b"if-none-match"), headers.get(b"accept-encoding")
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    caller = keys.cached(authorization[7:].strip().decode("latin-1"))
    if caller is None or _SCOPE not in caller.scopes:
        return None
    catalogue = views.for_partner(shared, caller.partner_id)
    if catalogue is not shared:
        entry = catalogue.cached_response(scope["path"], scope["query_string"])
    if entry is None:
        return None
    scope[PARTNER_KEY] = caller.partner_id
    try:
        await limits.charge(caller)
    except RateLimited as refused:
        await error_response(refused)(scope, _no_body, with_outer_headers(scope, send))
        return entry.route, "GET", refused.status
    status, answer_headers, body = entry.respond(if_none_match, accept_encoding)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*answer_headers, (b"x-request-id", request_id_of(scope)), NOSNIFF],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return entry.route, "GET", status


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
