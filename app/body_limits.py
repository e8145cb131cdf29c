"""Request bodies: the right media type (else 415) and a size cap (else 413), enforced before
the body is read, and while it streams in, so an oversized body is never held in memory."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, UnsupportedMediaType, problem_response
from app.request_id import header_value

MiB = 1024 * 1024
LARGE_BODY_PATHS = ("/v1/sessions/batch", "/v1/recommendations/evaluate")
MEDIA_TYPES = {
    "POST": {b"application/json"},
    "PUT": {b"application/json"},
    "PATCH": {b"application/merge-patch+json"},
}


def body_limit(path: str) -> int:
    return 8 * MiB if path in LARGE_BODY_PATHS else 1 * MiB


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MEDIA_TYPES:
            await self.app(scope, receive, send)
            return
        media_type = (header_value(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        allowed = MEDIA_TYPES[scope["method"]]
        if media_type not in allowed:
            names = " or ".join(sorted(t.decode() for t in allowed))
            await problem_response(415, f"Send the body as {names}.", type_=UnsupportedMediaType.type)(
                scope, receive, send
            )
            return
        limit = body_limit(scope["path"])
        too_large = f"The body is larger than {limit // MiB} MiB."
        declared = header_value(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem_response(413, too_large, type_=PayloadTooLarge.type)(scope, receive, send)
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
                    await problem_response(413, too_large, type_=PayloadTooLarge.type)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, send_unless_refused)
