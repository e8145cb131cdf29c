"""Session-log endpoints: read the request, call one service function, answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.dependencies import AppStateDep, IdempotencyKey, PartnerWriter, Reader, UserIdPath, Writer
from app.errors import problem_responses
from app.idempotency.service import fingerprint_of
from app.json_route import OrjsonRoute
from app.kit import NO_NUL, Rfc3339, aware_moment
from app.pagination import Cursor, Limit, decode_cursor, next_page
from app.responses import REPLAYED, stored_answer
from app.sessions import ingest, service
from app.sessions.schemas import (
    BatchIn,
    BatchOut,
    SessionIn,
    SessionOut,
    SessionPage,
    SessionPatch,
)

router = APIRouter(prefix="/v1", tags=["sessions"], route_class=OrjsonRoute)

_SESSION_STORED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Stored", "headers": {"Location": {"schema": {"type": "string"}}, **REPLAYED}},
    200: {"model": SessionOut, "description": "Already stored with this client_session_id and the same content"},
}
_BATCH_JUDGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "A result per item, in order", "headers": REPLAYED}
}


@router.post(
    "/users/{user_id}/sessions",
    status_code=201,
    response_model=SessionOut,
    summary="Log a session",
    responses=_SESSION_STORED | problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
)
async def post_session(
    user_id: UserIdPath,
    body: SessionIn,
    request: Request,
    access: Writer,
    state: AppStateDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    answer, replayed = await ingest.post_session(
        transaction=access.transaction,
        catalogue=access.catalogue,
        subscriptions=state.webhook_subscriptions,
        partner_id=access.partner_id,
        user_id=user_id,
        body=body,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint_of(request, idempotency_key, lambda: body.model_dump(mode="json")),
    )
    return stored_answer(answer, replayed, created_under=request.url.path)


SessionIdPath = Annotated[
    str,
    Path(max_length=64, pattern=NO_NUL, description="The session's `id`, as the service gave it when it was stored."),
]

# Up to 500 sessions: the body may be up to 8 MiB (app.body_limits) instead of 1 MiB.
BATCH_PATH = "/sessions/batch"
LARGE_BODY_PATHS = (router.prefix + BATCH_PATH,)


@router.post(
    BATCH_PATH,
    response_model=BatchOut,
    summary="Log up to 500 sessions, each judged on its own",
    responses=_BATCH_JUDGED | problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
)
async def post_batch(
    body: BatchIn,
    request: Request,
    access: PartnerWriter,
    state: AppStateDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    answer, replayed = await access.transaction(
        ingest.post_batch,
        catalogue=access.catalogue,
        subscriptions=state.webhook_subscriptions,
        partner_id=access.partner_id,
        raw_items=body.sessions,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint_of(request, idempotency_key, lambda: body.sessions),
    )
    return stored_answer(answer, replayed)


@router.get(
    "/users/{user_id}/sessions",
    response_model=SessionPage,
    summary="List a user's sessions, newest first",
    responses=problem_responses(401, 403, 422, 503),
)
async def list_sessions(
    user_id: UserIdPath,
    request: Request,
    response: Response,
    access: Reader,
    since: Annotated[
        Rfc3339 | None, Query(description="Only sessions performed at or after this time (RFC 3339).")
    ] = None,
    until: Annotated[Rfc3339 | None, Query(description="Only sessions performed before this time (RFC 3339).")] = None,
    exercise: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="Only sessions of this exercise (its slug).")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> SessionPage:
    after = decode_cursor(cursor, parts=(aware_moment, int))
    items, last = await access.transaction.autocommit(
        service.list_sessions,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        since=since,
        until=until,
        exercise=exercise,
        after=after,
        limit=limit,
    )
    filters = {
        "since": since and since.isoformat(),
        "until": until and until.isoformat(),
        "exercise": exercise,
        "limit": limit,
    }
    next_cursor = next_page(request, response, last, filters)
    return SessionPage(items=items, next_cursor=next_cursor)


@router.get(
    "/users/{user_id}/sessions/{session_id}",
    response_model=SessionOut,
    summary="Get one session",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_session(
    user_id: UserIdPath,
    session_id: SessionIdPath,
    access: Reader,
) -> dict:
    return await access.transaction.autocommit(
        service.get_session,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        session_id=session_id,
    )


@router.patch(
    "/users/{user_id}/sessions/{session_id}",
    response_model=SessionOut,
    summary="Amend next-morning pain or notes (JSON merge patch)",
    openapi_extra={
        "requestBody": {
            "content": {"application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/SessionPatch"}}}
        }
    },
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 503),
)
async def patch_session(
    user_id: UserIdPath,
    session_id: SessionIdPath,
    patch: SessionPatch,
    access: Writer,
    state: AppStateDep,
) -> dict:
    return await access.transaction(
        service.patch_session,
        catalogue=access.catalogue,
        subscriptions=state.webhook_subscriptions,
        partner_id=access.partner_id,
        user_id=user_id,
        session_id=session_id,
        patch=patch,
    )


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Erase a user: every session and stored answer that holds their data",
    responses=problem_responses(401, 403, 422, 503),
)
async def erase_user(user_id: UserIdPath, access: Writer, state: AppStateDep) -> Response:
    await access.transaction(
        service.erase_user, subscriptions=state.webhook_subscriptions, partner_id=access.partner_id, user_id=user_id
    )
    await access.transaction.checkpoint()  # nor in SQLite's log
    return Response(status_code=204)
