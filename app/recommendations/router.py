"""Recommendation endpoints."""

from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import SkipValidation, ValidationError

from app.catalogue.memory import LiveCatalogue
from app.dependencies import CatalogueReader, ProgressionQuery, Reader, UserIdPath
from app.errors import problem_responses
from app.json_route import OrjsonRoute
from app.kit import Rfc3339
from app.openapi import named_body
from app.ratelimits import EVALUATE_SESSIONS_PER_UNIT
from app.recommendations import service
from app.recommendations.schemas import EvaluateIn, RecommendationOut, TodaysRoutine

router = APIRouter(prefix="/v1", tags=["recommendations"], route_class=OrjsonRoute)

AsOfQuery = Annotated[Rfc3339 | None, Query(description="RFC 3339 with an offset; default now.")]


@router.get(
    "/users/{user_id}/recommendation",
    response_model=RecommendationOut,
    summary="Recommend a user's next step from their stored sessions",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_recommendation(
    user_id: UserIdPath,
    progression: ProgressionQuery,
    access: Reader,
    as_of: AsOfQuery = None,
) -> RecommendationOut:
    return await service.recommend_from_history(
        statements=access.transaction,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        progression=progression,
        as_of=as_of,
    )


# Up to 1,000 sessions: the body may be up to 8 MiB (app.body_limits) instead of 1 MiB.
EVALUATE_PATH = "/recommendations/evaluate"
LARGE_BODY_PATHS = (router.prefix + EVALUATE_PATH,)


@router.post(
    EVALUATE_PATH,
    response_model=RecommendationOut,
    summary="Recommend a next step from sessions sent in the request (nothing is stored)",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422),
    openapi_extra=named_body(EvaluateIn),
)
async def evaluate(body: Annotated[EvaluateIn, SkipValidation], access: CatalogueReader) -> RecommendationOut:
    # Charged by size: 1 request, plus 1 per EVALUATE_SESSIONS_PER_UNIT sessions sent.
    sessions = body.get("sessions") if isinstance(body, dict) else None
    if extra := (len(sessions) if isinstance(sessions, list) else 0) // EVALUATE_SESSIONS_PER_UNIT:
        await access.charge(extra)
    # Up to 1,000 sessions is tens of milliseconds of CPU, checking the body included: all of it
    # in a worker thread, one evaluation at a time per process, so the event loop (and every
    # other request) never waits behind a queue of them. The body arrives parsed, not checked
    # (SkipValidation; the schema is still EvaluateIn's), and is checked there.
    return await anyio.to_thread.run_sync(
        partial(_checked_evaluate, catalogue=access.catalogue, body=body), limiter=_EVALUATING
    )


_EVALUATING = anyio.CapacityLimiter(1)


def _checked_evaluate(*, catalogue: LiveCatalogue, body: object) -> RecommendationOut:
    try:
        checked = EvaluateIn.model_validate(body, from_attributes=True)  # as FastAPI checks a body
    except ValidationError as invalid:  # answered as FastAPI answers a body it checked itself
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors(include_url=False)]
        ) from None
    return service.evaluate(catalogue=catalogue, body=checked)


@router.get(
    "/users/{user_id}/routine",
    response_model=TodaysRoutine,
    summary="Today's routine for a user: warm-up, the recommended step and the daily habit",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_routine(user_id: UserIdPath, progression: ProgressionQuery, access: Reader) -> TodaysRoutine:
    return await service.todays_routine(
        statements=access.transaction,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        progression=progression,
    )
