"""Outcome and progress endpoints: read the request, call one service function, answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.dependencies import AppStateDep, IdempotencyKey, ProgressionQuery, Reader, UserIdPath, Writer
from app.errors import problem_responses
from app.idempotency.service import fingerprint_of
from app.json_route import OrjsonRoute
from app.kit import NO_NUL, Rfc3339, aware_moment
from app.pagination import Cursor, Limit, decode_cursor, next_page
from app.progress import service
from app.progress.drawings import chart_etag
from app.progress.instruments import InstrumentCode
from app.progress.schemas import OutcomeIn, OutcomeOut, OutcomePage, ProgressOut
from app.request_id import header_value
from app.responses import REPLAYED, if_none_match_names, stored_answer

router = APIRouter(prefix="/v1", tags=["progress"], route_class=OrjsonRoute)

OutcomeIdPath = Annotated[
    str, Path(max_length=64, pattern=NO_NUL, description="The score's `id`, as the service gave it.")
]
SinceQuery = Annotated[
    Rfc3339 | None, Query(description="The period's start, RFC 3339 with an offset; default 90 days before `until`.")
]
UntilQuery = Annotated[
    Rfc3339 | None,
    Query(
        description="The period's end, RFC 3339 with an offset; default the end of today (UTC). At most two years "
        "after `since`."
    ),
]
_RECORDED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Recorded", "headers": {"Location": {"schema": {"type": "string"}}, **REPLAYED}},
}
_SVG: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The chart, as SVG, with an `ETag`",
        "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        "headers": {"ETag": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not Modified: the `If-None-Match` tag matches the chart of the history as it is."},
}


@router.post(
    "/users/{user_id}/outcomes",
    status_code=201,
    response_model=OutcomeOut,
    summary="Record an outcome score (ODI, RMDQ, PSFS or NPRS): the score only",
    responses=_RECORDED | problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
)
async def record_outcome(
    user_id: UserIdPath,
    body: OutcomeIn,
    request: Request,
    access: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    fingerprint = fingerprint_of(request, idempotency_key, lambda: body.model_dump(mode="json"))
    answer, replayed = await service.record_outcome(
        transaction=access.transaction,
        partner_id=access.partner_id,
        user_id=user_id,
        body=body,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    return stored_answer(answer, replayed, created_under=request.url.path)


@router.get(
    "/users/{user_id}/outcomes",
    response_model=OutcomePage,
    summary="List a user's outcome scores, newest first",
    responses=problem_responses(401, 403, 422, 503),
)
async def list_outcomes(
    user_id: UserIdPath,
    request: Request,
    response: Response,
    access: Reader,
    instrument: Annotated[InstrumentCode | None, Query(description="Only this instrument's scores.")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> OutcomePage:
    after = decode_cursor(cursor, parts=(aware_moment, int))
    items, last = await access.transaction.autocommit(
        service.list_outcomes,
        partner_id=access.partner_id,
        user_id=user_id,
        instrument=instrument,
        after=after,
        limit=limit,
    )
    next_cursor = next_page(request, response, last, {"limit": limit, "instrument": instrument})
    return OutcomePage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/users/{user_id}/outcomes/{outcome_id}",
    response_model=OutcomeOut,
    summary="Get one outcome score",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_outcome(user_id: UserIdPath, outcome_id: OutcomeIdPath, access: Reader) -> dict[str, Any]:
    return await access.transaction.autocommit(
        service.get_outcome, partner_id=access.partner_id, user_id=user_id, outcome_id=outcome_id
    )


@router.get(
    "/users/{user_id}/progress",
    response_model=ProgressOut,
    summary="A user's progress on a ladder: sessions by position, weeks, outcome trends, the recommendation",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_progress(
    user_id: UserIdPath,
    progression: ProgressionQuery,
    access: Reader,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict[str, Any]:
    return await access.transaction.autocommit(
        service.progress,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        progression=progression,
        since=since,
        until=until,
    )


@router.get(
    "/users/{user_id}/progress.svg",
    response_class=Response,
    summary="A user's progress on a ladder as a chart (SVG): position, pain, pauses and red flags",
    responses=_SVG | problem_responses(401, 403, 404, 422, 503),
)
async def get_progress_chart(
    user_id: UserIdPath,
    progression: ProgressionQuery,
    request: Request,
    access: Reader,
    state: AppStateDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    chart = await access.transaction.autocommit(
        service.chart,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        progression=progression,
        since=since,
        until=until,
    )
    etag = chart_etag(access.partner_id, chart)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match_names(header_value(request.scope, b"if-none-match"), etag.encode()):
        return Response(status_code=304, headers=headers)
    svg = await state.drawn_charts.svg(etag, chart)
    return Response(svg, media_type="image/svg+xml", headers=headers)
