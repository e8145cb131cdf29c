"""The layers in front of the routes: the catalogue's fast path and the database routes' hot
paths first (before any middleware; `app.hotpath`), then request ids and counting around the
framework, and gzip for everything but the catalogue, whose answers carry their own
pre-compressed variants."""

import logging
from time import perf_counter

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.catalogue.fastpath import answer_from_cache
from app.cors import PREFLIGHT_ROUTE, answer_preflight, with_cors
from app.recommendations.hotpath import get_recommendation
from app.request_id import PARTNER_KEY, header_value, request_id_of, with_outer_headers
from app.sessions.hotpath import post_session
from app.state import AppState

# One line per request when STEPWISE_ACCESS_LOG is on: method, route template, status, duration,
# request id and partner id; never the path itself (user ids), a key or a body.
request_log = logging.getLogger("stepwise.requests")


class GZipExcept(GZipMiddleware):
    """Starlette's gzip for every response except paths starting with `skip_prefixes`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        skip_prefixes: tuple[str, ...],
        minimum_size: int,
        compresslevel: int,
        thread_minimum_size: int,
    ) -> None:
        super().__init__(
            app, minimum_size=minimum_size, compresslevel=compresslevel, thread_minimum_size=thread_minimum_size
        )
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def serve(state: AppState, framework: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """One HTTP request: from memory when the catalogue's fast path can answer it, by a hot path
    when the request is the plain case of a database route (each layer skipped is throughput
    gained), else through `framework`; every answer counted by route template, method and status,
    timed, and logged when the request log is on."""
    started_at = perf_counter()
    if scope["method"] == "HEAD":  # every GET route answers HEAD: the same headers, no body
        scope, send = {**scope, "method": "GET"}, _headers_only(send)
    origin = header_value(scope, b"origin")
    if scope["method"] == "OPTIONS" and origin is not None:
        preflight = await answer_preflight(state.origins, scope["app"], scope, origin, send)
        if preflight is not None:
            _done(state, scope, (PREFLIGHT_ROUTE, "OPTIONS", preflight), started_at)
            return
    if state.origins.by_partner:  # every answer below, the fast path's too (no partner allows any: nothing to add)
        send = with_cors(state.origins, scope, origin, send)
    answered = None
    if scope["method"] == "GET":
        answered = await answer_from_cache(state.catalogue, state.partner_views, state.keys, state.limits, scope, send)
        if answered is None:
            answered = await get_recommendation(state, scope, receive, send)
    elif scope["method"] == "POST":
        answered, receive = await post_session(state, scope, receive, send)
    if answered is not None:
        _done(state, scope, answered, started_at)
        return
    status = 500  # unless a response starts: the client went away, or the app failed
    started = False

    async def send_and_count(message: Message) -> None:
        nonlocal status, started
        if message["type"] == "http.response.start":
            status, started = message["status"], True
        await send(message)

    try:
        # Outside Starlette's own error middleware, so even a 500 carries the request id.
        await framework(scope, receive, with_outer_headers(scope, send_and_count))
    except Exception:
        # Starlette answers an unexpected error with our 500 handler (which logs it without
        # anything a client sent), then raises it again; the server would log it once more,
        # message and all. Once an answer has started there is nothing left to do with it.
        if not started:
            raise
    finally:
        route = scope.get("route")
        _done(state, scope, (getattr(route, "path", "unmatched"), scope["method"], status), started_at)


def _headers_only(send: Send) -> Send:
    async def send_headers(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
        await send(message)

    return send_headers


def _done(state: AppState, scope: Scope, answered: tuple[str, str, int], started_at: float) -> None:
    seconds = perf_counter() - started_at
    state.request_counts.add(answered, seconds)
    if state.settings.access_log:
        route, method, status = answered
        request_log.info(
            "%s %s %d %.1f ms",
            method,
            route,
            status,
            seconds * 1000,
            extra={
                "request_id": request_id_of(scope).decode(),
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "partner_id": scope.get(PARTNER_KEY),
            },
        )
