"""The OpenAPI document as partners get it: FastAPI's, with every error response declared as
`application/problem+json` (our one error model) instead of FastAPI's default validation shape."""

import copy
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic.json_schema import GenerateJsonSchema

from app.catalogue.content import red_flag_codes
from app.dependencies import USER_TOKEN_SCHEME, takes_user_tokens
from app.errors import PROBLEM_MEDIA_TYPE

_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_RATE_LIMITED = {
    "description": "Too Many Requests: the partner's quota (or the address's budget of failed "
    "authentications) is used up for now; retry after `Retry-After` seconds.",
    "headers": {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
        "RateLimit-Policy": {
            "description": 'The quota, per the IETF draft: `"partner";q=6000;w=60` (q requests per w seconds).',
            "schema": {"type": "string"},
        },
        "RateLimit": {
            "description": 'What is left of it: `"partner";r=0;t=12` (r remaining, t seconds to reset).',
            "schema": {"type": "string"},
        },
    },
    "content": _PROBLEM,
}


_STRING = {"type": "string"}
_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id: the client's own `X-Request-ID` when it is 1-128 characters of "
        "`A-Za-z0-9._:-`, else a new one. Quote it when reporting a problem; the service's logs carry it.",
        "schema": _STRING,
    },
    "ETag": {
        "description": "A strong tag of this representation (it differs for the gzip variant); send it back "
        "in `If-None-Match` to get `304 Not Modified` while it is current.",
        "schema": _STRING,
    },
    "Cache-Control": {"description": "How long, and by whom, the answer may be cached.", "schema": _STRING},
    "Link": {
        "description": 'The next page, if any: `<...?cursor=...>; rel="next"` (RFC 8288).',
        "schema": _STRING,
    },
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An `ETag` from an earlier answer: `304 Not Modified`, with no body, while it is still current.",
    "schema": _STRING,
}
SERVERS = [
    {"url": "/", "description": "The server this document came from"},
    {"url": "http://localhost:8000", "description": "`stepwise serve` on this machine, with the default settings"},
]


def _declare_headers(operation: dict[str, Any]) -> None:
    """Headers the layers in front of the routes add, declared where they appear."""
    responses = operation.get("responses", {})
    cached = "304" in responses
    paged = any(parameter["name"] == "cursor" for parameter in operation.get("parameters", []))
    if cached:
        operation.setdefault("parameters", []).append(_IF_NONE_MATCH)
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.setdefault("X-Request-ID", _HEADERS["X-Request-ID"])
        if cached and status in ("200", "304"):
            headers.setdefault("ETag", _HEADERS["ETag"])
            headers.setdefault("Cache-Control", _HEADERS["Cache-Control"])
        if paged and status == "200":
            headers.setdefault("Link", _HEADERS["Link"])
        if status == "503":
            headers.setdefault("Retry-After", _HEADERS["Retry-After"])


def _document_what_the_models_cannot(schemas: dict[str, Any]) -> None:
    """Rules the pydantic models hold in code rather than in their schema."""
    # Red-flag codes are a fixed set (GET /v1/safety): named in the schema, so a client cannot
    # send a misspelt one. (Answers keep plain strings: a code added later must not break a client.)
    codes = red_flag_codes()
    for name in ("SessionIn", "BatchItemIn", "EvaluatedSessionIn"):
        schemas[name]["properties"]["red_flags"]["items"] = {"type": "string", "enum": codes}
    # A batch judges each item on its own: an item with a missing or invalid field is that item's
    # 422 result, not a refused request. So the request takes any object as an item; a
    # `BatchItemIn` is what an item must be to be stored.
    schemas["BatchIn"]["properties"]["sessions"]["items"] = {
        "anyOf": [
            {"$ref": "#/components/schemas/BatchItemIn"},
            {
                "type": "object",
                "description": "Any other object: taken, and answered with a 422 result for that item alone.",
            },
        ],
        "description": "A session as for `POST /v1/users/{user_id}/sessions`, plus its `user_id` (a `BatchItemIn`). "
        "Each item is judged on its own: one missing or invalid field gives that item a 422 result, and the "
        "others are stored. An item that is not a JSON object makes the whole request a 422, and nothing is stored.",
    }
    # In the merge patch, `pain` may be left out but never set to null (only its `next_morning`).
    pain = schemas["SessionPatch"]["properties"]["pain"]
    pain.pop("anyOf", None)
    pain["$ref"] = "#/components/schemas/PainPatch"


def operation_id(route: APIRoute) -> str:
    """Stable operation ids, `<tag>-<function name>`: generated clients name methods after them."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """The app's API routes, those of included routers too (newer FastAPI keeps those behind a
    wrapper of its own; `iter_route_contexts` unwraps them)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    routes = [context.original_route for context in contexts(app.routes)] if contexts else app.routes
    return [route for route in routes if isinstance(route, APIRoute)]


_NAMED_BODY = "x-stepwise-named-body"


def named_body(model: type) -> dict[str, Any]:
    """`openapi_extra` for a route that takes its body unchecked (`SkipValidation`, checked
    later, off the event loop) and must still document it as `model`, by name: pydantic inlines
    such a body's schema, and `document` names it again."""
    return {_NAMED_BODY: model.__name__}


def _name_the_body(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    name = operation.pop(_NAMED_BODY, None)
    if name is not None:
        body = operation["requestBody"]["content"]["application/json"]
        named = body["schema"] | {"title": name}
        if "examples" in named:  # sorted as pydantic sorts a named schema's examples (not an inlined one's)
            named["examples"] = [GenerateJsonSchema().sort(example) for example in named["examples"]]
        schemas[name] = named
        body["schema"] = {"$ref": f"#/components/schemas/{name}"}


def document(app: FastAPI) -> dict[str, Any]:
    """The schema, built once per app."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        token_operations = {
            (route.path, method.lower())
            for route in _api_routes(app)
            if any(d.call and takes_user_tokens(d.call) for d in route.dependant.dependencies)
            for method in route.methods or ()
        }
        schema["components"]["securitySchemes"]["UserToken"] = USER_TOKEN_SCHEME
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and PROBLEM_MEDIA_TYPE in content:
                        content.pop("application/json", None)
                        content.update(_PROBLEM)
                    if status == "422":
                        response["content"] = dict(_PROBLEM)
                if "security" in operation:  # every request made with a key counts against a quota
                    operation["responses"]["429"] = copy.deepcopy(_RATE_LIMITED)
                    if (path, method) in token_operations:
                        operation["security"] = [{"HTTPBearer": []}, {"UserToken": []}]
                body = operation.get("requestBody", {}).get("content", {})
                if "application/merge-patch+json" in body:  # the only type a PATCH takes
                    body.pop("application/json", None)
                _declare_headers(operation)
                _name_the_body(operation, schema["components"]["schemas"])
        schema["components"]["schemas"] = dict(sorted(schema["components"]["schemas"].items()))
        _document_what_the_models_cannot(schema["components"]["schemas"])
        schema["servers"] = SERVERS
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
