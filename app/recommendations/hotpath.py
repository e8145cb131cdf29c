"""The fast lane of `GET /v1/users/{user_id}/recommendation` (see `app.hotpath` for the rules).

Taken for a query the route would accept (`progression`, optionally `as_of`, each once) and a
`user_id` the route accepts. Everything else goes on to the route in
`app.recommendations.router`.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.dependencies import Access
from app.hotpath import answer
from app.kit import USER_ID, Rfc3339
from app.recommendations import service
from app.recommendations.schemas import RecommendationOut
from app.state import AppState

_AS_OF = TypeAdapter(Rfc3339)
_RECOMMENDATION = TypeAdapter(RecommendationOut)


async def get_recommendation(
    state: AppState, access: Access, params: Mapping[str, Any], scope: Scope, receive: Receive, send: Send
) -> tuple[int | None, Receive]:
    """(The status answered, or None to leave the request to the route; `receive`)."""
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    found = dict(query)
    progression, as_of_text = found.get("progression"), found.get("as_of")
    if len(found) != len(query) or progression is None or not 1 <= len(progression) <= 64:
        return None, receive
    try:
        user_id = USER_ID.validate_python(params["user_id"])
        as_of = None if as_of_text is None else _AS_OF.validate_python(as_of_text)
    except ValidationError:  # the route answers 422
        return None, receive
    recommendation = await service.recommend_from_history(
        statements=access.transaction,
        catalogue=access.catalogue,
        partner_id=access.partner_id,
        user_id=user_id,
        progression=progression,
        as_of=as_of,
    )
    document = _RECOMMENDATION.dump_json(recommendation)
    return await answer(scope, receive, send, Response(document, media_type="application/json")), receive
