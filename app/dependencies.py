"""The dependencies routes declare: who is calling (the API key or user token and its scope, with the live
catalogue and the transaction runner the request may use), the app's state and the shared path
parameters. Routers import from here, never from each
other."""

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from app.callers import Caller
from app.catalogue.memory import LiveCatalogue
from app.db.transactions import Transaction
from app.errors import Forbidden, Unauthorized
from app.kit import USER_ID_PATTERN
from app.partners.tokens import ExpiredToken, RefusedToken, looks_like_token
from app.ratelimits import Quota, RateLimits, client_address
from app.request_id import PARTNER_KEY, header_value
from app.state import AppState, state_of


# Every dependency here is `async def`: FastAPI runs a plain `def` one in a worker thread.
async def app_state(request: Request) -> AppState:
    return state_of(request.app)


_bearer = HTTPBearer(auto_error=False, description="A partner API key: `Authorization: Bearer sw_...`")
# The same header with a user token (POST /v1/users/{user_id}/tokens), declared by app.openapi
# as a scheme of its own on the operations that take one.
USER_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A user token minted by the partner's backend (`POST /v1/users/{user_id}/tokens`), for a "
    "browser or app acting for that one user: `Authorization: Bearer eyJ...`. It expires after its "
    "`ttl_seconds` (at most an hour) and stops working within seconds of the minting key's revocation.",
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route asks of its caller: a scope, and whether a user token may call it (for its
    own user: the path's `user_id`, on a route with one), or only a partner's API key."""

    scope: str
    user_tokens: bool = True


@dataclass(slots=True)  # not frozen: a frozen dataclass takes 1.8 µs to make, this one 0.4 µs (one a request)
class Access:
    """A caller that met the route's requirement, with what its request may use (not to be
    changed). One dependency instead of three: FastAPI solves each dependency on every request,
    and on the database routes that was a measured 12% of their throughput."""

    partner_id: int
    catalogue: LiveCatalogue
    transaction: Transaction
    caller: Caller
    limits: RateLimits
    requirement: Requirement
    quota: Quota | None = None  # the partner's quota after this request, for the answer's headers

    async def charge(self, cost: int) -> None:
        """Charge `cost` more requests to the caller's quota (the request itself is charged)."""
        await self.limits.charge(self.caller, cost)


# Where `authorise` leaves a request's Access, for the route's dependency to find.
_ACCESS_KEY = "stepwise.access"


async def identify(state: AppState, scope: Scope) -> Caller:
    """The caller behind the request's `Authorization: Bearer <credential>` (an API key or a
    user token), or 401; 429 for an address that used up its failed authentications."""
    authorization = header_value(scope, b"authorization")
    if authorization is not None and authorization[:7].lower() == b"bearer ":  # checked lately: no more to do
        caller = state.keys.cached(authorization[7:].strip().decode("latin-1"))
        if caller is not None:
            scope[PARTNER_KEY] = caller.partner_id
            return caller
    key = bearer_token(authorization)
    address = client_address(scope)
    if not key:  # not a guess at a key: not counted against the address
        raise Unauthorized(
            "An API key or user token is required: send `Authorization: Bearer <credential>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not state.keys.known_valid(key):  # a credential no one vouched for lately
        await state.limits.refuse_failing_client(address)
    try:
        caller = await state.keys.authenticate(key)
    except RefusedToken as refused:  # authentic, so no guess; its partner's frontend may read the 401 (CORS)
        scope[PARTNER_KEY] = refused.partner_id
        why = "has expired" if isinstance(refused, ExpiredToken) else "was minted by a key since revoked"
        raise Unauthorized(
            f"The user token {why}; get a new one from the partner's backend.",
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{refused.reason}"'},
        ) from None
    if caller is None:
        await state.limits.count_failed_authentication(address)
        raise Unauthorized(
            "The user token is not one this service signed."
            if looks_like_token(key)
            else "The API key is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    scope[PARTNER_KEY] = caller.partner_id
    return caller


def has_scope(caller: Caller, requirement: Requirement, path_params: Mapping[str, Any]) -> None:
    """403 for a caller without the route's scope."""
    if requirement.scope not in caller.scopes:
        what = "user token" if caller.user_id is not None else "API key"
        raise Forbidden(
            f"The {what} lacks the scope {requirement.scope!r}.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{requirement.scope}"'},
        )


def acts_for_its_user(caller: Caller, requirement: Requirement, path_params: Mapping[str, Any]) -> None:
    """403 for a user token used beyond its user: on a route for the partner's backend alone
    (the batch, minting tokens), or on another user's path. Keys pass."""
    if caller.user_id is None:
        return
    if not requirement.user_tokens:
        raise Forbidden("A user token acts for its own user only; this needs the partner's API key.")
    user_id = path_params.get("user_id")
    if user_id is not None and user_id != caller.user_id:
        raise Forbidden("This user token acts for another user.")


Check = Callable[[Caller, Requirement, Mapping[str, Any]], None]
# Every check a caller passes before any route, fast lane or not, answers it (each raises a
# DomainError). One list, read on every request: a check added here holds everywhere.
CHECKS: list[Check] = [has_scope, acts_for_its_user]


async def authorise(state: AppState, scope: Scope, requirement: Requirement, path_params: Mapping[str, Any]) -> Access:
    """The request's caller, checked against `requirement` and every check in `CHECKS`, and
    charged one request to its partner's quota; kept in the scope, so the route's dependency
    finds it. `app.asgi.serve` calls it once per request, before any fast lane or route."""
    caller = await identify(state, scope)
    for check in CHECKS:
        check(caller, requirement, path_params)
    quota = await state.limits.charge(caller)
    access = scope[_ACCESS_KEY] = Access(
        caller.partner_id,
        state.catalogue_for(caller.partner_id),
        state.transaction,
        caller,
        state.limits,
        requirement,
        quota,
    )
    return access


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, as FastAPI's HTTPBearer reads it."""
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_scope(scope: str, *, user_tokens: bool = True) -> Callable[..., Coroutine[Any, Any, Access]]:
    """The dependency of a route that needs `scope` (see `Requirement`). The front door
    (`app.asgi.serve`) has already authorised the request by it; the dependency hands the
    route that Access (and authorises the request itself only if it came in another way)."""
    requirement = Requirement(scope, user_tokens)

    async def authorised_caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # declares the scheme
    ) -> Access:
        access = request.scope.get(_ACCESS_KEY)
        if access is not None and access.requirement is requirement:
            return access
        return await authorise(state_of(request.app), request.scope, requirement, request.path_params)

    authorised_caller.requirement = requirement  # type: ignore[attr-defined]  # for the front door and app.openapi
    return authorised_caller


def requirement_of(dependency: Callable[..., Any] | None) -> Requirement | None:
    """The requirement of a route's dependency made by `require_scope` (None for any other)."""
    requirement = getattr(dependency, "requirement", None)
    return requirement if isinstance(requirement, Requirement) else None


def takes_user_tokens(dependency: Callable[..., Any]) -> bool:
    """Whether a route's dependency (made by `require_scope`) lets a user token in."""
    requirement = requirement_of(dependency)
    return requirement is not None and requirement.user_tokens


AppStateDep = Annotated[AppState, Depends(app_state)]
CatalogueReader = Annotated[Access, Depends(require_scope("catalogue:read"))]
Reader = Annotated[Access, Depends(require_scope("sessions:read"))]
Writer = Annotated[Access, Depends(require_scope("sessions:write"))]
# Routes for the partner's backend alone: the batch (it names many users), minting user tokens.
PartnerWriter = Annotated[Access, Depends(require_scope("sessions:write", user_tokens=False))]
UserIdPath = Annotated[
    str,
    Path(
        pattern=USER_ID_PATTERN, min_length=1, max_length=128, description="The partner's own opaque id for the person."
    ),
]
# The ladder a user's recommendation, routine or progress is about.
ProgressionQuery = Annotated[
    str, Query(min_length=1, max_length=64, description="The ladder's slug, e.g. lunge-ladder.")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes retries of this write safe for 24 hours.",
    ),
]
