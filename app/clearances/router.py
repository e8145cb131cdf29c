"""Clearance endpoints: read the request, call one service function, answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from app.clearances import service
from app.clearances.schemas import ClearanceIn, ClearanceOut, ClearancePage
from app.dependencies import AppStateDep, IdempotencyKey, PartnerWriter, Reader, UserIdPath
from app.errors import problem_responses
from app.idempotency.service import fingerprint_of
from app.json_route import OrjsonRoute
from app.kit import NO_NUL, aware_moment
from app.pagination import Cursor, Limit, decode_cursor, next_page
from app.responses import REPLAYED, stored_answer

router = APIRouter(prefix="/v1", tags=["clearances"], route_class=OrjsonRoute)

ClearanceIdPath = Annotated[
    str,
    Path(max_length=64, pattern=NO_NUL, description="The clearance's `id`, as the service gave it."),
]
_RECORDED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Recorded", "headers": {"Location": {"schema": {"type": "string"}}, **REPLAYED}},
}


@router.post(
    "/users/{user_id}/clearances",
    status_code=201,
    response_model=ClearanceOut,
    summary="Record that a clinician cleared a person to exercise (with the partner's API key only)",
    responses=_RECORDED | problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
)
async def record_clearance(
    user_id: UserIdPath,
    body: ClearanceIn,
    request: Request,
    access: PartnerWriter,  # a person cannot clear themselves: no user token
    state: AppStateDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    fingerprint = fingerprint_of(request, idempotency_key, lambda: body.model_dump(mode="json"))
    answer, replayed = await service.record_clearance(
        transaction=access.transaction,
        subscriptions=state.webhook_subscriptions,
        partner_id=access.partner_id,
        user_id=user_id,
        body=body,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    return stored_answer(answer, replayed, created_under=request.url.path)


@router.get(
    "/users/{user_id}/clearances",
    response_model=ClearancePage,
    summary="List a user's clearances, newest first",
    responses=problem_responses(401, 403, 422, 503),
)
async def list_clearances(
    user_id: UserIdPath,
    request: Request,
    response: Response,
    access: Reader,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ClearancePage:
    after = decode_cursor(cursor, parts=(aware_moment, int))
    items, last = await access.transaction.autocommit(
        service.list_clearances, partner_id=access.partner_id, user_id=user_id, after=after, limit=limit
    )
    next_cursor = next_page(request, response, last, {"limit": limit})
    return ClearancePage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/users/{user_id}/clearances/{clearance_id}",
    response_model=ClearanceOut,
    summary="Get one clearance",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_clearance(user_id: UserIdPath, clearance_id: ClearanceIdPath, access: Reader) -> dict[str, Any]:
    return await access.transaction.autocommit(
        service.get_clearance, partner_id=access.partner_id, user_id=user_id, clearance_id=clearance_id
    )
