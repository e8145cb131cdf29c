"""The fast lane of `POST /v1/users/{user_id}/sessions` (see `app.hotpath` for the rules).

Taken for a JSON body within the size limit that `SessionIn` accepts, a `user_id` the route
accepts, and no `Idempotency-Key` (retries by key stay with the route, which owns them).
Everything else goes on to the route in `app.sessions.router`, with the body as read.
"""

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from app.body_limits import BODY
from app.dependencies import Access
from app.hotpath import answer, read_body, replaying
from app.kit import USER_ID
from app.request_id import request_headers
from app.responses import stored_answer
from app.sessions import ingest
from app.sessions.schemas import SessionIn
from app.state import AppState


async def post_session(
    state: AppState, access: Access, params: Mapping[str, Any], scope: Scope, receive: Receive, send: Send
) -> tuple[int | None, Receive]:
    """(The status answered, or None to leave the request to the route; the `receive` to go on with)."""
    headers = request_headers(scope)
    media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    declared = headers.get(b"content-length", b"")
    if (
        media_type != b"application/json"
        or b"idempotency-key" in headers
        or not declared.isdigit()
        or int(declared) > BODY
    ):
        return None, receive
    try:
        user_id = USER_ID.validate_python(params["user_id"])
    except ValidationError:  # the route answers 422
        return None, receive
    raw, messages = await read_body(receive, BODY)
    try:
        body = None if raw is None else SessionIn.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError):
        body = None
    if body is None:  # the route answers it (413, 400, 422, or nothing to a client gone), as read
        return None, replaying(messages, receive)
    stored, replayed = await ingest.post_session(
        transaction=access.transaction,
        catalogue=access.catalogue,
        subscriptions=state.webhook_subscriptions,
        partner_id=access.partner_id,
        user_id=user_id,
        body=body,
        idempotency_key=None,
        fingerprint="",
    )
    created_under = f"/v1/users/{user_id}/sessions"
    return await answer(scope, receive, send, stored_answer(stored, replayed, created_under=created_under)), receive
