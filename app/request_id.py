"""`X-Request-ID` on every response (echoed when the client sent a sane one), as plain ASGI."""

import os
import re

from starlette.types import Message, Scope, Send

_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def header_value(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; a repeated header counts by its first value,
    as the framework (Starlette's `Headers.get`) and `app.body_limits` read it."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name, value)
    return headers


def request_id(client_value: bytes | None) -> bytes:
    if client_value is not None and _SANE_ID.match(client_value):
        return client_value
    return os.urandom(16).hex().encode()


_SCOPE_KEY = "stepwise.request_id"


def request_id_of(scope: Scope) -> bytes:
    """The request's id, chosen once per request (kept in its scope) so logs and the
    `X-Request-ID` header agree."""
    rid = scope.get(_SCOPE_KEY)
    if rid is None:
        rid = scope[_SCOPE_KEY] = request_id(header_value(scope, b"x-request-id"))
    return rid


def with_request_id(scope: Scope, send: Send) -> Send:
    """`send`, adding `X-Request-ID` to the response it starts."""
    rid = request_id_of(scope)

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
        await send(message)

    return send_with_id
