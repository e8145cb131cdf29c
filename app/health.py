"""Liveness and readiness probes (no auth)."""

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from app.dependencies import AppStateDep
from app.errors import problem, problem_response, problem_responses
from app.migrate import current_revision

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    migration: str
    catalogue_version: str


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database is reachable and migrated to head",
    responses=problem_responses(503),
)
async def readyz(state: AppStateDep) -> Readiness | Response:
    try:
        revision = await anyio.to_thread.run_sync(current_revision, state.engine)
    except Exception:  # any driver error means "not reachable"; details stay in the logs
        return problem_response(problem(503, "The database is not reachable."))
    if revision != state.migration_head:
        return problem_response(problem(503, f"The database is at migration {revision}, not {state.migration_head}."))
    if state.catalogue.version is None:
        return problem_response(problem(503, "The catalogue has not been synced yet."))
    return Readiness(status="ready", migration=revision, catalogue_version=state.catalogue.version)
