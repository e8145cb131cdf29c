"""The hot path of `GET /v1/users/{user_id}/recommendation` (see `app.hotpath` for the rules).

Taken only for a recently checked key with `sessions:read` and a query the route would accept
(`progression`, optionally `as_of`, each once). Everything else goes on to the route in
`app.recommendations.router`.
"""

import re
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.hotpath import answer, answer_error, cached_caller
from app.kit import USER_ID_PATTERN, Rfc3339
from app.recommendations import service
from app.recommendations.schemas import RecommendationOut
from app.request_id import request_headers
from app.state import AppState

ROUTE = "/v1/users/{user_id}/recommendation"
_PATH = re.compile(r"/v1/users/(" + USER_ID_PATTERN.strip("^$") + r")/recommendation")  # fullmatch
_AS_OF = TypeAdapter(Rfc3339)
_RECOMMENDATION = TypeAdapter(RecommendationOut)


async def get_recommendation(
    state: AppState, scope: Scope, receive: Receive, send: Send
) -> tuple[str, str, int] | None:
    """(route, method, status) when answered here; None leaves the request to the framework."""
    match = _PATH.fullmatch(scope["path"])
    if match is None:
        return None
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    params = dict(query)
    progression, as_of_text = params.get("progression"), params.get("as_of")
    if len(params) != len(query) or progression is None or not 1 <= len(progression) <= 64:
        return None
    try:
        as_of = None if as_of_text is None else _AS_OF.validate_python(as_of_text)
    except ValidationError:
        return None
    user_id = match.group(1)
    caller = cached_caller(state, scope, request_headers(scope), "sessions:read", user_id)
    if caller is None:
        return None
    try:
        await state.limits.charge(caller)
        recommendation = await service.recommend_from_history(
            statements=state.transaction,
            catalogue=state.catalogue_for(caller.partner_id),
            partner_id=caller.partner_id,
            user_id=user_id,
            progression=progression,
            as_of=as_of,
        )
    except Exception as error:  # answered as the framework's handlers answer it
        return ROUTE, "GET", await answer_error(scope, receive, send, error, route=ROUTE)
    document = _RECOMMENDATION.dump_json(recommendation)
    status = await answer(scope, receive, send, Response(document, media_type="application/json"))
    return ROUTE, "GET", status
