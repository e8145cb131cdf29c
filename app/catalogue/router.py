"""Catalogue endpoints: each reads the in-memory catalogue and answers pre-rendered bytes from its
response cache (style 1 of `app.responses`): an answer may depend on nothing but the path, the
query string and the catalogue version, because the fast path replays it to every caller."""

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import (
    Catalogue,
    EquipmentList,
    Exercise,
    ExercisePage,
    MuscleList,
    Progression,
    ProgressionList,
    Routine,
    RoutineList,
    Safety,
)
from app.dependencies import Access, CatalogueReader
from app.errors import problem_responses
from app.pagination import Cursor, Limit, decode_cursor, encode_cursor, next_link
from app.request_id import header_value
from app.responses import prerendered

router = APIRouter(prefix="/v1", tags=["catalogue"])
_CACHED = {
    304: {"description": "Not Modified: the `If-None-Match` tag matches the current representation."},
}
_LIST = problem_responses(401, 403, 422) | _CACHED
_ONE = problem_responses(401, 403, 404) | _CACHED


def _canonical_query(request: Request) -> str:
    """The route's own query parameters as the route reads them (the last value of each), sorted:
    equal for every spelling of the same request, and blind to parameters the route ignores."""
    route, query = request.scope["route"], request.query_params
    names = sorted(field.alias for field in route.dependant.query_params if field.alias in query)
    return urlencode([(name, query[name]) for name in names])


async def _respond(request: Request, access: Access, build: Callable[[LiveCatalogue], Any]) -> Response:
    """The cached answer for this URL, or `build(catalogue)` rendered and cached, in a worker
    thread: a partner's own content can make an answer tens of MB to render and compress."""
    scope, catalogue, canonical = request.scope, access.catalogue, _canonical_query(request)
    entry = catalogue.kept(scope["path"], scope["query_string"], canonical)
    if entry is None:  # built once per URL: the thread hop only then
        entry = await anyio.to_thread.run_sync(
            catalogue.render,
            scope["route"].path,
            scope["path"],
            scope["query_string"],
            canonical,
            lambda: build(catalogue),
        )
    status, headers, body = entry.respond(
        header_value(scope, b"if-none-match"), header_value(scope, b"accept-encoding")
    )
    return prerendered(status, headers, body)


@router.get("/catalogue", response_model=Catalogue, summary="The whole catalogue in one document", responses=_LIST)
async def get_catalogue(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: catalogue.document)


@router.get("/muscles", response_model=MuscleList, summary="List muscles", responses=_LIST)
async def list_muscles(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: MuscleList(items=catalogue.document.muscles))


@router.get("/equipment", response_model=EquipmentList, summary="List equipment", responses=_LIST)
async def list_equipment(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: EquipmentList(items=catalogue.document.equipment))


@router.get("/exercises", response_model=ExercisePage, summary="List and filter exercises", responses=_LIST)
async def list_exercises(
    request: Request,
    access: CatalogueReader,
    muscle: Annotated[str | None, Query(max_length=64, description="Muscle slug, primary or secondary.")] = None,
    equipment: Annotated[str | None, Query(max_length=64, description="Equipment slug.")] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Tag, e.g. `balance` or `beginner`.")] = None,
    max_level: Annotated[int | None, Query(ge=1, le=6, description="Highest difficulty level.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words to find in name or summary.")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Response:
    after = decode_cursor(cursor, parts=(int, str))
    filters = dict(muscle=muscle, equipment=equipment, tag=tag, max_level=max_level, q=q)

    def page(catalogue: LiveCatalogue) -> tuple[BaseModel, dict[str, str]]:
        items, last = catalogue.find_exercises(
            muscle=muscle, equipment=equipment, tag=tag, max_level=max_level, q=q, after=after, limit=limit
        )
        next_cursor = encode_cursor(list(last)) if last else None
        return ExercisePage(items=items, next_cursor=next_cursor), next_link(
            request.url.path, filters | {"limit": limit}, next_cursor
        )

    return await _respond(request, access, page)


@router.get("/exercises/{slug}", response_model=Exercise, summary="Get one exercise", responses=_ONE)
async def get_exercise(
    slug: Annotated[str, Path(description="The exercise's slug, e.g. `reverse-lunge`.")],
    request: Request,
    access: CatalogueReader,
) -> Response:
    return await _respond(request, access, lambda catalogue: catalogue.exercise(slug))


@router.get("/progressions", response_model=ProgressionList, summary="List progressions", responses=_LIST)
async def list_progressions(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: ProgressionList(items=catalogue.progression_summaries()))


@router.get("/progressions/{slug}", response_model=Progression, summary="Get one progression ladder", responses=_ONE)
async def get_progression(
    slug: Annotated[str, Path(description="The progression's slug, e.g. `lunge-ladder`.")],
    request: Request,
    access: CatalogueReader,
) -> Response:
    return await _respond(request, access, lambda catalogue: catalogue.progression(slug))


@router.get("/routines", response_model=RoutineList, summary="List ready-made routines", responses=_LIST)
async def list_routines(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: RoutineList(items=catalogue.document.routines))


@router.get("/routines/{slug}", response_model=Routine, summary="Get one routine", responses=_ONE)
async def get_routine(
    slug: Annotated[str, Path(description="The routine's slug, e.g. `ten-minute-starter`.")],
    request: Request,
    access: CatalogueReader,
) -> Response:
    return await _respond(request, access, lambda catalogue: catalogue.routine(slug))


@router.get(
    "/safety",
    response_model=Safety,
    summary="The disclaimer and the red-flag symptoms a session may report",
    responses=_LIST,
)
async def get_safety(request: Request, access: CatalogueReader) -> Response:
    return await _respond(request, access, lambda catalogue: catalogue.document.safety)


# Every path this router answers starts with one of these: they carry their own pre-compressed
# variants, so the generic gzip middleware leaves them alone.
PATH_PREFIXES = tuple(sorted({"/".join(route.path.split("/")[:3]) for route in router.routes}))  # type: ignore[attr-defined]
