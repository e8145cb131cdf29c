"""The dependencies routes declare: who is calling (with which scope), the live catalogue, the
transaction runner and the shared path parameters. Routers import from here, never from each
other."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.catalogue.memory import LiveCatalogue
from app.db import Transaction
from app.partners.auth import require_scope
from app.partners.service import Caller
from app.sessions.schemas import USER_ID_PATTERN
from app.state import AppState


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state
    return state


async def live_catalogue(request: Request) -> LiveCatalogue:
    return app_state(request).catalogue


async def transaction(request: Request) -> Transaction:
    return app_state(request).transaction


LiveCatalogueDep = Annotated[LiveCatalogue, Depends(live_catalogue)]
TransactionDep = Annotated[Transaction, Depends(transaction)]
CatalogueReader = Annotated[Caller, Depends(require_scope("catalogue:read"))]
Reader = Annotated[Caller, Depends(require_scope("sessions:read"))]
Writer = Annotated[Caller, Depends(require_scope("sessions:write"))]
UserIdPath = Annotated[
    str,
    Path(
        pattern=USER_ID_PATTERN, min_length=1, max_length=128, description="The partner's own opaque id for the person."
    ),
]
