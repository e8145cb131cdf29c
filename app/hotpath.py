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

from app.catalogue.memory import GZIP_LEVEL, GZIP_MIN_BYTES
from app.errors import DomainError, error_response, failure_response
from app.partners.service import Caller
from app.request_id import with_request_id
from app.state import AppState

Headers = Mapping[bytes, bytes]


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; a repeated header keeps its last value."""
    return dict(scope["headers"])


def cached_caller(state: AppState, headers: Headers, needed: str) -> Caller | None:
    """The caller behind `Authorization: Bearer <key>` if the key was checked recently and has
    the scope `needed`; None sends the request on to the framework (which checks it in full)."""
    authorization = headers.get(b"authorization")
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    caller = state.keys.cached(authorization[7:].strip().decode("latin-1"))
    return caller if caller is not None and needed in caller.scopes else None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, and whether it stayed within `limit` bytes (reading stops past it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands back the body already read, then goes on with the client's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def answer(scope: Scope, receive: Receive, send: Send, response: Response) -> int:
    """Send `response` through the layers the framework's answers go through; returns its status."""
    gzip = GZipMiddleware(response, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    await gzip(scope, receive, with_request_id(scope, send))
    return response.status_code


async def answer_error(scope: Scope, receive: Receive, send: Send, error: Exception) -> int:
    """A domain error as the framework answers it; anything else as its 500."""
    response = error_response(error) if isinstance(error, DomainError) else failure_response(error)
    return await answer(scope, receive, send, response)
