"""What the fast lanes of the database routes share (`app.asgi.serve` runs them, after the
front door, `app.frontdoor`, has found the route and authorised its caller).

A lane answers only the plain case of its route: input that the route's own models accept. It
calls the same service as the route, and its answer goes through the same outer layers
(request id, gzip), so both ways answer alike. Anything else (a header the route treats
specially, input the models refuse) goes on to the framework untouched, with the body it read
handed back, and the framework's answer (a 422...) is the one the client gets. This skips
routing and dependency solving, measured at about a third of a database route's CPU.
"""

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.catalogue.memory import GZIP_LEVEL, GZIP_MIN_BYTES
from app.errors import DomainError
from app.http_errors import error_response, failure_response
from app.request_id import with_outer_headers


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
