"""CORS for partners' browser frontends, as plain ASGI, on every path (the catalogue's fast path
included: `app.asgi.serve` wraps every answer's `send` here before any path runs).

Each partner allows a list of origins (none by default; `stepwise partners origins`). A
preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) comes without
credentials, so it is answered 204 with the CORS headers when *some* partner allows the origin;
otherwise it goes on to the router (405) with none. An actual answer carries
`Access-Control-Allow-Origin: <origin>` (never `*`) and the exposed headers only when the
caller's partner allows that origin, and `Vary: Origin` whenever the caller's partner allows any
origin (its answers then depend on the `Origin` sent, or not sent). Credentials are bearer
tokens, never cookies, so `Access-Control-Allow-Credentials` is never sent.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.types import Message, Scope, Send

from app.request_id import NOSNIFF, PARTNER_KEY, header_value, request_id_of
from app.routing import allowed_methods

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-ID"
EXPOSE_HEADERS = "ETag, Link, Location, X-Request-ID, Idempotent-Replayed, Retry-After, RateLimit, RateLimit-Policy"
MAX_AGE_SECONDS = 600
_VARY_ORIGIN = (b"vary", b"Origin")
_EXPOSE = (b"access-control-expose-headers", EXPOSE_HEADERS.encode())
_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(text: str) -> str:
    """An origin as a browser sends it in `Origin`: `scheme://host[:port]`, lower case, without
    the scheme's default port; ValueError, saying why, for anything else (a path, a query, a
    wildcard, user info, a scheme other than http or https)."""
    candidate = text.strip()
    example = "e.g. https://app.example.com or http://127.0.0.1:5173"
    try:
        parts = urlsplit(candidate)
    except ValueError:  # e.g. brackets around something that is no IPv6 address
        raise ValueError(f"{text!r}: the host is not a DNS name or an IP address, {example}") from None
    if "*" in candidate:
        raise ValueError(f"{text!r}: no wildcards; name each origin, {example}")
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(f"{text!r}: an origin is http:// or https:// and a host, {example}")
    if parts.path or parts.query or parts.fragment or candidate.endswith(("?", "#")):
        raise ValueError(f"{text!r}: an origin has no path, query or fragment, {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{text!r}: an origin has no user name or password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number from 0 to 65535") from None
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address, written in brackets in an origin
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValueError(f"{text!r}: the host is not an IPv6 address") from None
    elif not _HOST.match(host) or len(host) > 253:
        raise ValueError(f"{text!r}: the host is not a DNS name or an IP address (use punycode for others)")
    scheme = parts.scheme.lower()
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class Origins:
    """Every partner's allowed origins, held in memory and replaced whole by the periodic reload
    (`app.background`), so a change made anywhere reaches every replica within its interval."""

    def __init__(self, by_partner: Mapping[int, Iterable[str]] | None = None) -> None:
        self.by_partner: dict[int, frozenset[bytes]] = {
            partner: frozenset(origin.encode() for origin in origins)
            for partner, origins in (by_partner or {}).items()
            if origins
        }
        self.any: frozenset[bytes] = frozenset().union(*self.by_partner.values())


def with_cors(origins: Origins, scope: Scope, origin: bytes | None, send: Send) -> Send:
    """`send`, adding the CORS headers of the caller's partner (known by the time an answer
    starts: `PARTNER_KEY` in the scope) to the answer it starts."""

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            allowed = origins.by_partner.get(scope.get(PARTNER_KEY))  # type: ignore[arg-type]
            if allowed:
                extra = [_VARY_ORIGIN]
                if origin is not None and origin in allowed:
                    extra += [(b"access-control-allow-origin", origin), _EXPOSE]
                message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_cors


def preflight_headers(origin: bytes, methods: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """The headers of a 204 answer to a preflight from an allowed origin."""
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", ", ".join(methods).encode()),
        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
        (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]


PREFLIGHT_ROUTE = "cors-preflight"  # how /metrics and the request log name the answers here


async def answer_preflight(origins: Origins, app: Starlette, scope: Scope, origin: bytes, send: Send) -> int | None:
    """Answer a preflight from an origin some partner allows, to an API path (204, returns it);
    None leaves the request to the router, whose answer (405) carries no CORS headers."""
    if (
        origin not in origins.any
        or not scope["path"].startswith("/v1/")
        or header_value(scope, b"access-control-request-method") is None
    ):
        return None
    methods = allowed_methods(app, scope)
    if not methods:
        return None
    headers = [*preflight_headers(origin, methods), (b"x-request-id", request_id_of(scope)), NOSNIFF]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
    return 204
