"""The problem+json error model (RFC 9457) and the one mapping from errors to HTTP."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("stepwise")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


def problem(
    status: int, detail: str, *, type_: str = "about:blank", errors: list[ProblemError] | None = None
) -> Problem:
    return Problem(type=type_, title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)


class DomainError(Exception):
    """Base of the errors services raise; each subclass carries its HTTP status."""

    status: int = 400
    type: str = "about:blank"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class Unauthorized(DomainError):
    status = 401
    type = "https://stepwise.dev/problems/unauthorized"


class Forbidden(DomainError):
    status = 403
    type = "https://stepwise.dev/problems/forbidden"


class NotFound(DomainError):
    status = 404
    type = "https://stepwise.dev/problems/not-found"


class InvalidRequest(DomainError):
    """422 for input that is well-formed but not acceptable; `loc` names the field."""

    status = 422
    type = "https://stepwise.dev/problems/validation"

    def __init__(
        self, detail: str, *, loc: list[str | int] | None = None, errors: list[ProblemError] | None = None
    ) -> None:
        super().__init__(detail)
        self.errors = errors if errors is not None else [ProblemError(loc=loc or [], msg=detail)]

    def as_problem(self) -> Problem:
        return problem(self.status, self.detail, type_=self.type, errors=self.errors)


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[ProblemError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem(status, detail, type_=type_, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _error_loc(loc: tuple[Any, ...]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
    return problem_response(
        exc.status, exc.detail, type_=exc.type, errors=getattr(exc, "errors", None), headers=exc.headers
    )


def validation_problems(errors: list[dict[str, Any]], prefix: tuple[str | int, ...] = ()) -> list[ProblemError]:
    return [ProblemError(loc=_error_loc(prefix + tuple(e["loc"])), msg=e["msg"]) for e in errors]


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return problem_response(400, "The request body is not valid JSON.", type_=BadRequest.type)
    errors = validation_problems(list(exc.errors()))
    return problem_response(
        422,
        "The request does not match the schema; see errors.",
        type_=InvalidRequest.type,
        errors=errors,
    )


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return problem_response(500, "The service failed to answer; the error has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring the problem schema for each status."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


class BadRequest(DomainError):
    status = 400
    type = "https://stepwise.dev/problems/malformed-request"


class Conflict(DomainError):
    status = 409
    type = "https://stepwise.dev/problems/conflict"


class PayloadTooLarge(DomainError):
    status = 413
    type = "https://stepwise.dev/problems/payload-too-large"


class UnsupportedMediaType(DomainError):
    status = 415
    type = "https://stepwise.dev/problems/unsupported-media-type"
