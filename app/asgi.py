"""The layers in front of the routes: CORS preflights, then the front door (`app.frontdoor`:
the route found and its caller authorised once), then the route's fast lane if it has one
(the catalogue's answers from memory, the plain case of the two busiest database routes),
else the framework, with request ids and counting around it, and gzip for everything but the
catalogue, whose answers carry their own pre-compressed variants."""

import logging
from time import perf_counter

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.cors import PREFLIGHT_ROUTE, answer_preflight, with_cors
from app.db.deadlines import one_deadline_per_request
from app.dependencies import authorise
from app.frontdoor import FrontDoor
from app.hotpath import answer_error
from app.ratelimits import Quota
from app.request_id import PARTNER_KEY, header_value, request_id_of, with_outer_headers
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


async def serve(
    state: AppState, door: FrontDoor, framework: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """One HTTP request: its route found and its caller authorised by the front door (a refusal
    answered there), then answered by the route's fast lane when it takes the request (each
    layer skipped is throughput gained), else by `framework`; every answer counted by route
    template, method and status, timed, and logged when the request log is on."""
    started_at = perf_counter()
    one_deadline_per_request()
    if scope["method"] == "HEAD":  # every GET route answers HEAD: the same headers, no body
        scope, send = {**scope, "method": "GET"}, _headers_only(send)
    origin = header_value(scope, b"origin")
    if scope["method"] == "OPTIONS" and origin is not None:
        preflight = await answer_preflight(state.origins, scope["app"], scope, origin, send)
        if preflight is not None:
            _done(state, scope, (PREFLIGHT_ROUTE, "OPTIONS", preflight), started_at)
            return
    if state.origins.by_partner:  # every answer below, the lanes' too (no partner allows any: nothing to add)
        send = with_cors(state.origins, scope, origin, send)
    matched = door.match(scope)
    if matched is not None and (requirement := matched[0].requirement) is not None:
        door_route, params = matched
        try:
            access = await authorise(state, scope, requirement, params)
        except Exception as error:  # a refusal (401, 403, 429), or the database out of reach (503)
            status = await answer_error(scope, receive, send, error, route=door_route.path)
            _done(state, scope, (door_route.path, scope["method"], status), started_at)
            return
        if access.quota is not None:  # every answer that counted against the quota says what is left
            send = _with_quota(send, access.quota)
        if door_route.lane is not None:
            try:
                answered, receive = await door_route.lane(state, access, params, scope, receive, send)
            except Exception as error:  # a domain error or a failure, answered as the framework's handlers do
                answered = await answer_error(scope, receive, send, error, route=door_route.path)
            if answered is not None:
                _done(state, scope, (door_route.path, scope["method"], answered), started_at)
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


def _with_quota(send: Send, quota: Quota) -> Send:
    """`send`, adding the quota's headers to the answer, unless it has its own (a 429 charged
    later in the request, by size: its quota is the newer)."""

    async def send_with_quota(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = message.get("headers", [])
            if not any(name.lower() == b"ratelimit" for name, _ in present):
                message["headers"] = [*present, *quota.headers()]
        await send(message)

    return send_with_quota


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
