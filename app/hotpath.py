"""What the hot paths in front of the framework share (`app.asgi.serve` runs them).

A hot path answers only the plain case of one route: a key checked in the last few seconds,
with the route's scope, and input that the route's own models accept. It calls the same
service as the route, and its answer goes through the same outer layers (request id, gzip),
so both paths answer alike. Anything else (an unknown key, a header the route treats
specially, input the models refuse) goes on to the framework untouched, with the body it read
handed back, and the framework's answer (a 401, a 422...) is the one the client gets. This
skips routing and dependency solving, measured at about a third of a database route's CPU.
"""

from collections.abc import Mapping

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.callers import Caller
from app.catalogue.memory import GZIP_LEVEL, GZIP_MIN_BYTES
from app.errors import DomainError
from app.http_errors import error_response, failure_response
from app.request_id import PARTNER_KEY, with_outer_headers
from app.state import AppState

Headers = Mapping[bytes, bytes]


def cached_caller(state: AppState, scope: Scope, headers: Headers, needed: str, user_id: str) -> Caller | None:
    """The caller behind `Authorization: Bearer <credential>` if it was checked recently, has
    the scope `needed` and may act for `user_id` (a key, or that user's token); None sends the
    request on to the framework (which checks it in full, and answers a refusal)."""
    authorization = headers.get(b"authorization")
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    caller = state.keys.cached(authorization[7:].strip().decode("latin-1"))
    if caller is None or needed not in caller.scopes or caller.user_id not in (None, user_id):
        return None
    scope[PARTNER_KEY] = caller.partner_id
    return caller


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole request body (None: the client went away, or it grew past `limit` bytes), and
    the messages read, to hand back to the framework (`replaying`) if it is to answer."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > limit:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands back the messages already read, as they came, then goes on with
    the client's: a body cut short by a disconnect still ends in that disconnect."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def answer(scope: Scope, receive: Receive, send: Send, response: Response) -> int:
    """Send `response` through the layers the framework's answers go through; returns its status.
    The gzip layer is skipped under its minimum size, where it sends the answer as it is."""
    send = with_outer_headers(scope, send)
    if len(response.body) < GZIP_MIN_BYTES:
        await response(scope, receive, send)
    else:
        await GZipMiddleware(response, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)(scope, receive, send)
    return response.status_code


async def answer_error(scope: Scope, receive: Receive, send: Send, error: Exception, *, route: str) -> int:
    """A domain error as the framework answers it; anything else as its 500 (or 503)."""
    response = error_response(error) if isinstance(error, DomainError) else failure_response(error, scope, route)
    return await answer(scope, receive, send, response)
