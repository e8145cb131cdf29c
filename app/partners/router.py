"""User tokens: a partner's backend mints one for a user, whose browser then calls the API."""

from fastapi import APIRouter

from app.dependencies import AppStateDep, PartnerWriter, UserIdPath
from app.errors import Forbidden, Unavailable, problem_responses
from app.partners.schemas import TokenIn, TokenOut

router = APIRouter(prefix="/v1", tags=["tokens"])


@router.post(
    "/users/{user_id}/tokens",
    status_code=201,
    response_model=TokenOut,
    summary="Mint a short-lived token for one user's browser or app",
    description="Called by the partner's backend with its API key (scope `sessions:write`); the token acts "
    "for this one user alone, with the scopes asked for, until it expires. A user token cannot mint tokens.",
    responses=problem_responses(400, 401, 403, 413, 415, 422, 503),
)
async def mint_token(user_id: UserIdPath, body: TokenIn, access: PartnerWriter, state: AppStateDep) -> TokenOut:
    scopes = frozenset(body.scopes)
    lacking = sorted(scopes - access.caller.scopes)
    if lacking:
        raise Forbidden(f"The API key lacks the scope {lacking[0]!r}, so a token it mints cannot have it.")
    signer = state.keys.tokens
    if signer.secret is None:  # not loaded yet: the database was out of reach at start-up
        raise Unavailable("User tokens are not available yet; retry shortly.")
    token, expires_at = signer.mint(key=access.caller, user_id=user_id, scopes=scopes, ttl_seconds=body.ttl_seconds)
    return TokenOut.of(token, user_id, scopes, expires_at)
