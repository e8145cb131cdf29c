"""The hot path of `POST /v1/users/{user_id}/sessions` (see `app.hotpath` for the rules).

Taken only for a recently checked key with `sessions:write`, a JSON body within the size limit
that `SessionIn` accepts, and no `Idempotency-Key` (retries by key stay with the route, which
owns them). Everything else goes on to the route in `app.sessions.router`.
"""

import re

import orjson
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from app.body_limits import BODY
from app.hotpath import answer, answer_error, cached_caller, read_body, replaying
from app.kit import USER_ID_PATTERN
from app.ratelimits import RateLimited
from app.request_id import request_headers
from app.responses import stored_answer
from app.sessions import ingest
from app.sessions.schemas import SessionIn
from app.state import AppState

ROUTE = "/v1/users/{user_id}/sessions"
_PATH = re.compile(r"/v1/users/(" + USER_ID_PATTERN.strip("^$") + r")/sessions")  # fullmatch: no "$\n"


async def post_session(
    state: AppState, scope: Scope, receive: Receive, send: Send
) -> tuple[tuple[str, str, int] | None, Receive]:
    """((route, method, status) when answered here, else None; the `receive` to go on with)."""
    match = _PATH.fullmatch(scope["path"])
    if match is None:
        return None, receive
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
    user_id = match.group(1)
    caller = cached_caller(state, scope, headers, "sessions:write", user_id)
    if caller is None:
        return None, receive
    raw, messages = await read_body(receive, BODY)
    try:
        body = None if raw is None else SessionIn.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError):
        body = None
    if body is None:  # the route answers it (413, 400, 422, or nothing to a client gone), as read
        return None, replaying(messages, receive)
    try:  # charged only once the request stays here: the framework charges the ones it answers
        await state.limits.charge(caller)
    except RateLimited as refused:
        return (ROUTE, "POST", await answer_error(scope, receive, send, refused, route=ROUTE)), receive
    try:
        stored, replayed = await ingest.post_session(
            transaction=state.transaction,
            catalogue=state.catalogue_for(caller.partner_id),
            partner_id=caller.partner_id,
            user_id=user_id,
            body=body,
            idempotency_key=None,
            fingerprint="",
        )
    except Exception as error:  # answered as the framework's handlers answer it
        return (ROUTE, "POST", await answer_error(scope, receive, send, error, route=ROUTE)), receive
    created_under = f"/v1/users/{user_id}/sessions"
    status = await answer(scope, receive, send, stored_answer(stored, replayed, created_under=created_under))
    return (ROUTE, "POST", status), receive
