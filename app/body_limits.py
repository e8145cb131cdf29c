"""Request bodies, checked in the order a client can act on: a method the path takes (else the
router's 405), a valid credential (the front door, `app.frontdoor`, answered 401 before any of
this, whatever the body), the right media type (else 415) and a size cap (else 413), all before
the body is read, the cap also while it streams in, so an oversized body is never held in
memory."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, UnsupportedMediaType
from app.http_errors import error_response
from app.request_id import header_value
from app.routing import allowed_methods

MiB = 1024 * 1024
LARGE_BODY = 8 * MiB
BODY = 1 * MiB
MEDIA_TYPES = {
    "POST": {b"application/json"},
    "PUT": {b"application/json"},
    "PATCH": {b"application/merge-patch+json"},
}


class BodyLimits:
    """1 MiB bodies, 8 MiB on `large_body_paths` (each router names its own, beside the route),
    and `document_limit` bytes on `document_paths` (a partner's own exercises and ladders: one
    document each, under a path that starts with one of them)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        large_body_paths: tuple[str, ...] = (),
        document_paths: tuple[str, ...] = (),
        document_limit: int = BODY,
    ) -> None:
        self.app = app
        self.large_body_paths = frozenset(large_body_paths)
        self.document_paths = document_paths
        self.document_limit = document_limit

    def _limit(self, path: str) -> tuple[int, str]:
        if path in self.large_body_paths:
            return LARGE_BODY, f"The body is larger than {LARGE_BODY // MiB} MiB."
        if path.startswith(self.document_paths):
            kib = self.document_limit // 1024
            return self.document_limit, f"The body is larger than {kib} KiB, the most one exercise or ladder may be."
        return BODY, f"The body is larger than {BODY // MiB} MiB."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MEDIA_TYPES:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in allowed_methods(scope["app"], scope):  # the router answers 405
            await self.app(scope, receive, send)
            return
        media_type = (header_value(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        allowed = MEDIA_TYPES[scope["method"]]
        # A request with no body at all (a POST that only acts, e.g. rotating a secret) has no media type.
        bodiless = header_value(scope, b"content-length") in (None, b"0") and not header_value(
            scope, b"transfer-encoding"
        )
        if media_type not in allowed and not bodiless:
            names = " or ".join(sorted(t.decode() for t in allowed))
            await error_response(UnsupportedMediaType(f"Send the body as {names}."))(scope, receive, send)
            return
        limit, too_large = self._limit(scope["path"])
        declared = header_value(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error_response(PayloadTooLarge(too_large))(scope, receive, send)
            return
        received, refused = 0, False

        async def counting_receive() -> Message:
            # Past the limit: answer 413 now, and tell the app the client has gone, so it stops
            # reading; whatever it then tries to answer is dropped.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await error_response(PayloadTooLarge(too_large))(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, send_unless_refused)
