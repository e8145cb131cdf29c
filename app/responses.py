"""How routes answer: three styles, each for a reason. Pick by the first that applies.

1. **Pre-rendered bytes** (`prerendered`): catalogue reads. Their answers depend only on the
   path, the query string and the catalogue version, so each is rendered once per catalogue
   version and kept with its ETag and gzip variant (`app.catalogue.memory`); the route and the
   fast path in front of the framework send those bytes unchanged. Nothing that depends on who
   is asking (beyond the scope check) or on the time may be answered this way.
2. **A JSON text made by the service** (`json_text`): writes whose answer is stored and replayed
   byte for byte under an `Idempotency-Key`, and batch answers. The service renders once with
   orjson (`app.kit.render`); the same text is stored and sent. The route still
   declares `response_model`, for the OpenAPI document only.
3. **A model or dict through `response_model`**: everything else (session reads,
   recommendations, routines, health). FastAPI validates and serialises it.
"""

from typing import Any

import orjson
from starlette.responses import Response

from app.errors import PROBLEM_MEDIA_TYPE
from app.idempotency.service import StoredAnswer

# The header of a write's answer replayed under an `Idempotency-Key`, as OpenAPI declares it.
REPLAYED: dict[str, Any] = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same key",
        "schema": {"type": "string"},
    }
}


def prerendered(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
    """Send `body` with exactly these headers (content type, length, ETag... included)."""
    response = Response(content=body, status_code=status)
    response.raw_headers = list(headers)
    return response


def json_text(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    """Send a JSON text a service rendered; a 4xx/5xx one is a problem document."""
    media_type = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    return Response(content=body, status_code=status, media_type=media_type, headers=headers)


def stored_answer(answer: StoredAnswer, replayed: bool, created_under: str | None = None) -> Response:
    """A write's answer (style 2); a resource created (201) under the path `created_under` gets
    its Location. The one-session POST's hot path (`app.sessions.hotpath`) answers with this too."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if created_under is not None and answer.status == 201:
        headers["Location"] = f"{created_under}/{orjson.loads(answer.body)['id']}"
    return json_text(answer.status, answer.body, headers)


def if_none_match_names(if_none_match: bytes | None, *etags: bytes) -> bool:
    """Whether an `If-None-Match` header names any of `etags` (or is `*`); a weak tag (`W/"..."`)
    compares by its opaque part, as RFC 9110's weak comparison does for GET."""
    if not if_none_match:
        return False
    tags = (candidate.strip().removeprefix(b"W/") for candidate in if_none_match.split(b","))
    return any(tag == b"*" or tag in etags for tag in tags)
