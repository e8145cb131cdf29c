"""The OpenAPI document as partners get it: FastAPI's, with every error response declared as
`application/problem+json` (our one error model) instead of FastAPI's default validation shape."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

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


def operation_id(route: APIRoute) -> str:
    """Stable operation ids, `<tag>-<function name>`: generated clients name methods after them."""
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def document(app: FastAPI) -> dict[str, Any]:
    """The schema, built once per app."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and PROBLEM_MEDIA_TYPE in content:
                        content.pop("application/json", None)
                        content.update(_PROBLEM)
                    if status == "422":
                        response["content"] = dict(_PROBLEM)
                if "security" in operation:  # every request made with a key counts against a quota
                    operation["responses"]["429"] = _RATE_LIMITED
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
