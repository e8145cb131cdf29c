"""The headers every response carries, as plain ASGI: `X-Request-ID` (echoed when the client
sent a sane one), `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` on answers
about a person (their sessions, recommendations, routines; evaluate's answer, computed from
the history sent), which no cache may keep."""

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
# Where the paths put the partner a request was made for, once its key is known (for the log).
PARTNER_KEY = "stepwise.partner_id"


def request_id_of(scope: Scope) -> bytes:
    """The request's id, chosen once per request (kept in its scope) so logs and the
    `X-Request-ID` header agree."""
    rid = scope.get(_SCOPE_KEY)
    if rid is None:
        rid = scope[_SCOPE_KEY] = request_id(header_value(scope, b"x-request-id"))
    return rid


NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
# Paths whose answers are about one person (or computed from a person's history).
PERSONAL_PREFIXES = ("/v1/users/", "/v1/sessions/", "/v1/recommendations/")


def with_outer_headers(scope: Scope, send: Send) -> Send:
    """`send`, adding the outer headers to the response it starts."""
    extra = [(b"x-request-id", request_id_of(scope)), NOSNIFF]
    if scope["path"].startswith(PERSONAL_PREFIXES):
        extra.append(_NO_STORE)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_headers
