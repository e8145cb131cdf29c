"""The dependencies routes declare: who is calling (the API key or user token and its scope, with the live
catalogue and the transaction runner the request may use), the app's state and the shared path
parameters. Routers import from here, never from each
other."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from app.callers import Caller
from app.catalogue.memory import LiveCatalogue
from app.db.transactions import Transaction
from app.errors import Forbidden, Unauthorized
from app.kit import USER_ID_PATTERN
from app.partners.tokens import ExpiredToken, RefusedToken, looks_like_token
from app.ratelimits import RateLimits, client_address
from app.request_id import PARTNER_KEY
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
    """The caller behind `key` (the bearer credential: an API key or a user token; None when
    none was sent), or 401; 429 for an address that used up its failed authentications. The
    routes call it through `require_scope`; `app.body_limits` calls it before looking at a body,
    so a request without a valid credential is a 401 whatever its body. The caller found is
    kept in the scope, so a request checked there is not checked again by its route."""
    known = scope.get(_CALLER_KEY)
    if known is not None:
        return known
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
    scope[_CALLER_KEY] = caller
    scope[PARTNER_KEY] = caller.partner_id
    return caller


def check_user(caller: Caller, *, user_id: str | None, user_tokens: bool) -> None:
    """403 for a user token used beyond its user: on a route for the partner's backend alone
    (`user_tokens` False: the batch, minting tokens), or on another user's path (`user_id`, the
    path's; None on routes about no user, such as the catalogue). Keys pass."""
    if caller.user_id is None:
        return
    if not user_tokens:
        raise Forbidden("A user token acts for its own user only; this needs the partner's API key.")
    if user_id is not None and user_id != caller.user_id:
        raise Forbidden("This user token acts for another user.")


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, as FastAPI's HTTPBearer reads it."""
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_scope(scope: str, *, user_tokens: bool = True) -> Callable[..., Coroutine[Any, Any, Access]]:
    """The dependency of a route that needs `scope`. A user token may call it for its own user
    (the path's `user_id`, on a route with one) unless `user_tokens` is False (the batch names
    other users; a token cannot mint tokens)."""

    async def authorised_caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Access:
        state = state_of(request.app)
        caller = await identify(state, request.scope, credentials.credentials if credentials else None)
        if scope not in caller.scopes:
            what = "user token" if caller.user_id is not None else "API key"
            raise Forbidden(
                f"The {what} lacks the scope {scope!r}.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        check_user(caller, user_id=request.path_params.get("user_id"), user_tokens=user_tokens)
        await state.limits.charge(caller)
        catalogue = state.catalogue_for(caller.partner_id)
        return Access(caller.partner_id, catalogue, state.transaction, caller, state.limits)

    authorised_caller.user_tokens = user_tokens  # type: ignore[attr-defined]  # for app.openapi
    return authorised_caller


def takes_user_tokens(dependency: Callable[..., Any]) -> bool:
    """Whether a route's dependency (made by `require_scope`) lets a user token in."""
    return bool(getattr(dependency, "user_tokens", False))


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
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes retries of this write safe for 24 hours.",
    ),
]
