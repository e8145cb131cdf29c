"""The dependencies routes declare: who is calling (the API key and its scope, with the live
catalogue and the transaction runner the request may use), the app's state and the shared path
parameters. Routers import from here, never from each
other."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from app.catalogue.memory import LiveCatalogue
from app.db import Transaction
from app.errors import Forbidden, Unauthorized
from app.partners.service import Caller
from app.ratelimits import RateLimits, client_address
from app.request_id import PARTNER_KEY
from app.sessions.schemas import USER_ID_PATTERN
from app.state import AppState, state_of


# Every dependency here is `async def`: FastAPI runs a plain `def` one in a worker thread.
async def app_state(request: Request) -> AppState:
    return state_of(request.app)


_bearer = HTTPBearer(auto_error=False, description="A partner API key: `Authorization: Bearer sw_...`")


@dataclass(frozen=True, slots=True)
class Access:
    """A caller checked for the route's scope, with what its request may use. One dependency
    instead of three: FastAPI solves each dependency on every request, and on the database
    routes that was a measured 12% of their throughput."""

    partner_id: int
    catalogue: LiveCatalogue
    transaction: Transaction
    caller: Caller
    limits: RateLimits

    async def charge(self, cost: int) -> None:
        """Charge `cost` more requests to the caller's quota (the request itself is charged)."""
        await self.limits.charge(self.caller, cost)


_CALLER_KEY = "stepwise.caller"


async def identify(state: AppState, scope: Scope, key: str | None) -> Caller:
    """The caller behind `key` (the bearer token, None when none was sent), or 401; 429 for an
    address that used up its failed authentications. The routes call it through
    `require_scope`; `app.body_limits` calls it before looking at a body, so a request without a
    valid key is a 401 whatever its body. The caller found is kept in the scope, so a request
    checked there is not checked again by its route."""
    known = scope.get(_CALLER_KEY)
    if known is not None:
        return known
    address = client_address(scope)
    if not key:  # not a guess at a key: not counted against the address
        raise Unauthorized(
            "An API key is required: send `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not state.keys.known_valid(key):  # a key no one vouched for lately
        await state.limits.refuse_failing_client(address)
    caller = await state.keys.authenticate(key)
    if caller is None:
        await state.limits.count_failed_authentication(address)
        raise Unauthorized(
            "The API key is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    scope[_CALLER_KEY] = caller
    return caller


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, as FastAPI's HTTPBearer reads it."""
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Access]]:
    async def authorised_caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Access:
        state = state_of(request.app)
        caller = await identify(state, request.scope, credentials.credentials if credentials else None)
        if scope not in caller.scopes:
            raise Forbidden(
                f"The API key lacks the scope {scope!r}.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        request.scope[PARTNER_KEY] = caller.partner_id
        await state.limits.charge(caller)
        return Access(caller.partner_id, state.catalogue, state.transaction, caller, state.limits)

    return authorised_caller


AppStateDep = Annotated[AppState, Depends(app_state)]
CatalogueReader = Annotated[Access, Depends(require_scope("catalogue:read"))]
Reader = Annotated[Access, Depends(require_scope("sessions:read"))]
Writer = Annotated[Access, Depends(require_scope("sessions:write"))]
UserIdPath = Annotated[
    str,
    Path(
        pattern=USER_ID_PATTERN, min_length=1, max_length=128, description="The partner's own opaque id for the person."
    ),
]
