"""Liveness and readiness probes (no auth)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app.dependencies import AppStateDep
from app.errors import problem, problem_responses
from app.http_errors import RETRY_AFTER_SECONDS, problem_response

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = Field(description="`ok` while the process is up.")


class Readiness(BaseModel):
    status: str = Field(description="`ready`: the database is reachable, migrated to head and the catalogue is synced.")
    migration: str = Field(description="The database's Alembic migration revision.")
    catalogue_version: str = Field(description="The loaded catalogue's version, a hash of its content.")


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
        revision = await state.transaction.autocommit(_migration)
    except Exception:  # any error means "not ready"; probes run every few seconds: no log line
        return _not_ready("The database is not reachable.")
    if revision != state.migration_head:
        return _not_ready(f"The database is at migration {revision}, not {state.migration_head}.")
    if state.catalogue.version is None:
        return _not_ready("The catalogue has not been synced yet.")
    return Readiness(status="ready", migration=revision, catalogue_version=state.catalogue.version)


async def _migration(*, connection: AsyncConnection) -> str | None:
    """The database's Alembic revision (one SELECT; bounded by the statement timeout)."""
    return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()


def _not_ready(detail: str) -> Response:
    return problem_response(problem(503, detail), {"Retry-After": str(RETRY_AFTER_SECONDS)})
