"""Partners' own exercises and ladders (scope `catalogue:write`): publish, replace, delete. They
are read through the catalogue endpoints, by their partner alone (`app.content.views`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from app.catalogue.ladders import LadderIn
from app.catalogue.schemas import Exercise, Progression
from app.content import service
from app.content.exercises import ExerciseIn
from app.content.views import rebuild_view
from app.dependencies import Access, AppStateDep, require_scope
from app.errors import problem_responses
from app.state import AppState

router = APIRouter(prefix="/v1", tags=["partner content"])
ContentWriter = Annotated[Access, Depends(require_scope("catalogue:write", user_tokens=False))]
SlugPath = Annotated[str, Path(max_length=64, description="The slug of one of your own exercises or ladders.")]
_WRITTEN = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Published", "headers": {"Location": {"schema": {"type": "string"}}}}
}


# Writes to these take one document each: their bodies are capped at STEPWISE_CONTENT_MAX_DOCUMENT_KIB.
DOCUMENT_PATHS = (router.prefix + "/exercises", router.prefix + "/progressions")


async def _write(state: AppState, access: Access, body: ExerciseIn | LadderIn, slug: str | None) -> None:
    """Publish or replace, then rebuild the partner's view here at once (other replicas notice
    the change within seconds)."""
    settings = state.settings
    content = await access.transaction(
        service.publish,
        builtin=state.catalogue,
        partner_id=access.partner_id,
        body=body,
        slug=slug,
        limits=service.Limits(exercises=settings.content_max_exercises, ladders=settings.content_max_ladders),
        known=state.partner_views.known(access.partner_id),
    )
    await rebuild_view(state.partner_views, state.catalogue, access.partner_id, content)


async def _delete(state: AppState, access: Access, kind: str, slug: str) -> Response:
    content = await access.transaction(
        service.unpublish,
        builtin=state.catalogue,
        partner_id=access.partner_id,
        kind=kind,
        slug=slug,
        known=state.partner_views.known(access.partner_id),
    )
    await rebuild_view(state.partner_views, state.catalogue, access.partner_id, content)
    return Response(status_code=204)


@router.post(
    "/exercises",
    status_code=201,
    response_model=Exercise,
    summary="Publish an exercise of your own",
    responses=_CREATED | _WRITTEN,
)
async def create_exercise(body: ExerciseIn, access: ContentWriter, state: AppStateDep, response: Response) -> Exercise:
    await _write(state, access, body, None)
    response.headers["Location"] = f"/v1/exercises/{body.slug}"
    return state.catalogue_for(access.partner_id).exercise(body.slug)


@router.put("/exercises/{slug}", response_model=Exercise, summary="Replace an exercise of your own", responses=_WRITTEN)
async def replace_exercise(slug: SlugPath, body: ExerciseIn, access: ContentWriter, state: AppStateDep) -> Exercise:
    await _write(state, access, body, slug)
    return state.catalogue_for(access.partner_id).exercise(slug)


@router.delete(
    "/exercises/{slug}",
    status_code=204,
    summary="Delete an exercise of your own (409 while one of your ladders uses it)",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def delete_exercise(slug: SlugPath, access: ContentWriter, state: AppStateDep) -> Response:
    return await _delete(state, access, "exercise", slug)


@router.post(
    "/progressions",
    status_code=201,
    response_model=Progression,
    summary="Publish a progression ladder of your own",
    responses=_CREATED | _WRITTEN,
)
async def create_progression(
    body: LadderIn, access: ContentWriter, state: AppStateDep, response: Response
) -> Progression:
    await _write(state, access, body, None)
    response.headers["Location"] = f"/v1/progressions/{body.slug}"
    return state.catalogue_for(access.partner_id).progression(body.slug)


@router.put(
    "/progressions/{slug}", response_model=Progression, summary="Replace a ladder of your own", responses=_WRITTEN
)
async def replace_progression(slug: SlugPath, body: LadderIn, access: ContentWriter, state: AppStateDep) -> Progression:
    await _write(state, access, body, slug)
    return state.catalogue_for(access.partner_id).progression(slug)


@router.delete(
    "/progressions/{slug}",
    status_code=204,
    summary="Delete a ladder of your own",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def delete_progression(slug: SlugPath, access: ContentWriter, state: AppStateDep) -> Response:
    return await _delete(state, access, "progression", slug)
