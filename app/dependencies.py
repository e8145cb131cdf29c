"""The dependencies routes declare: who is calling (the API key and its scope), the app's state,
the live catalogue, the transaction runner and the shared path parameters. Routers import from here, never from each
other."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.catalogue.memory import LiveCatalogue
from app.db import Transaction
from app.errors import Forbidden, Unauthorized
from app.partners.service import Caller
from app.sessions.schemas import USER_ID_PATTERN
from app.state import AppState, state_of


# Every dependency here is `async def`: FastAPI runs a plain `def` one in a worker thread.
async def app_state(request: Request) -> AppState:
    return state_of(request.app)


async def live_catalogue(request: Request) -> LiveCatalogue:
    return state_of(request.app).catalogue


async def transaction(request: Request) -> Transaction:
    return state_of(request.app).transaction


_bearer = HTTPBearer(auto_error=False, description="A partner API key: `Authorization: Bearer sw_...`")


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    async def authorised_caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise Unauthorized(
                "An API key is required: send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = await state_of(request.app).keys.authenticate(credentials.credentials)
        if caller is None:
            raise Unauthorized(
                "The API key is unknown or revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope not in caller.scopes:
            raise Forbidden(
                f"The API key lacks the scope {scope!r}.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return caller

    return authorised_caller


AppStateDep = Annotated[AppState, Depends(app_state)]
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
