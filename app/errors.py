"""The problem+json error model (RFC 9457) and the one mapping from errors to HTTP.

Services raise `DomainError` subclasses; each carries its status, problem type and (for
validation) `errors`. `DomainError.problem()` and `problem_document()` are the one way a problem
body is made, whether it is answered now, stored for an idempotent replay, or nested in a batch.
"""

import logging
import sqlite3
import traceback
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from app.request_id import request_id_of
from app.routing import allowed_methods

logger = logging.getLogger("stepwise")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPES = "https://stepwise.dev/problems/"


class ProblemError(BaseModel):
    loc: list[str | int] = Field(
        description='Where the refused value is: keys and zero-based indexes, e.g. `["body", "sets", 0, "dose"]`.'
    )
    msg: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    type: str = Field(
        default="about:blank",
        description="A URI naming the kind of problem, under `https://stepwise.dev/problems/`, or `about:blank`.",
    )
    title: str = Field(description="The HTTP status's standard phrase, e.g. `Not Found`.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time, in a sentence.")
    errors: list[ProblemError] | None = Field(
        default=None, description="On a 422: every refused value and why; absent otherwise."
    )


def problem(
    status: int, detail: str, *, type_: str = "about:blank", errors: list[ProblemError] | None = None
) -> Problem:
    return Problem(type=type_, title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)


def problem_document(body: Problem) -> dict[str, Any]:
    """A problem as JSON-ready data: absent `errors` are left out."""
    return body.model_dump(mode="json", exclude_none=True)


class DomainError(Exception):
    """Base of the errors services raise; each subclass names its HTTP status and problem type:
    `class NotFound(DomainError, status=404, problem_type="not-found")`."""

    status: int = 400
    type: str = "about:blank"

    def __init_subclass__(cls, *, status: int | None = None, problem_type: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if problem_type is not None:
            cls.type = _TYPES + problem_type

    def __init__(
        self, detail: str, *, errors: list[ProblemError] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers

    def problem(self) -> Problem:
        return problem(self.status, self.detail, type_=self.type, errors=self.errors)


class BadRequest(DomainError, status=400, problem_type="malformed-request"):
    pass


class Unauthorized(DomainError, status=401, problem_type="unauthorized"):
    pass


class Forbidden(DomainError, status=403, problem_type="forbidden"):
    pass


class NotFound(DomainError, status=404, problem_type="not-found"):
    pass


class Conflict(DomainError, status=409, problem_type="conflict"):
    pass


class PayloadTooLarge(DomainError, status=413, problem_type="payload-too-large"):
    pass


class UnsupportedMediaType(DomainError, status=415, problem_type="unsupported-media-type"):
    pass


class Unavailable(DomainError, status=503, problem_type="unavailable"):
    """Something the answer needs is not ready yet (the client retries after `Retry-After`)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class InvalidRequest(DomainError, status=422, problem_type="validation"):
    """422 for input that is well-formed but not acceptable; `loc` (or `errors`) names the field."""

    def __init__(
        self, detail: str, *, loc: list[str | int] | None = None, errors: list[ProblemError] | None = None
    ) -> None:
        super().__init__(detail, errors=errors if errors is not None else [ProblemError(loc=loc or [], msg=detail)])

    @classmethod
    def of(cls, errors: list[ProblemError]) -> "InvalidRequest":
        """One 422 for several problems; the detail is the single message, or a count."""
        return cls(errors[0].msg if len(errors) == 1 else f"{len(errors)} problems; see errors.", errors=errors)


def problem_response(body: Problem, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(problem_document(body), status_code=body.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def error_response(error: DomainError) -> Response:
    return problem_response(error.problem(), error.headers)


def _error_loc(loc: tuple[Any, ...]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_problems(errors: Sequence[Mapping[str, Any]], prefix: tuple[str | int, ...] = ()) -> list[ProblemError]:
    return [ProblemError(loc=_error_loc(prefix + tuple(e["loc"])), msg=e["msg"]) for e in errors]


async def _domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return error_response(BadRequest("The request body is not valid JSON."))
    errors = validation_problems(exc.errors())
    return error_response(InvalidRequest("The request does not match the schema; see errors.", errors=errors))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # Every method some route takes on this path (the router names only the first route's).
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
    return problem_response(problem(exc.status_code, detail), headers or None)


RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: Exception) -> bool:
    """The database could not be reached or did not answer in time (refused, dropped, a pool
    checkout timed out; SQLite locked): a 503 the client may retry, not a failure of ours."""
    if isinstance(exc, SQLAlchemyTimeoutError | TimeoutError | psycopg.OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    original = getattr(exc, "orig", None)
    if isinstance(exc, OperationalError | InterfaceError) and isinstance(original, psycopg.OperationalError):
        return True
    # SQLite reports SQL mistakes as OperationalError too: only its lock timeout is unavailability.
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


def _where(scope: Scope | None, route: str | None) -> str:
    """'METHOD route-template (request ID)' for a log line: never the path itself, which holds
    user ids, nor anything else the client sent."""
    if scope is None:
        return "outside a request"
    template = route or getattr(scope.get("route"), "path", "unmatched route")
    return f"{scope['method']} {template} (request {request_id_of(scope).decode()})"


def database_unreachable(exc: Exception) -> bool:
    """The database refused or dropped the connection: it cannot be asked at all (unlike a pool
    or statement timeout, where it is there but slow, or SQLite's lock)."""
    if isinstance(exc, SQLAlchemyTimeoutError | TimeoutError):
        return False
    if isinstance(exc, psycopg.OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError) and isinstance(
        getattr(exc, "orig", None), psycopg.OperationalError
    )


def unavailable_response(exc: Exception, scope: Scope | None = None, route: str | None = None) -> Response:
    """503 with `Retry-After` while the database is out of reach; logged without any detail."""
    cause = type(getattr(exc, "orig", None) or exc).__name__
    logger.warning("database unavailable in %s: %s", _where(scope, route), cause)
    unavailable = problem(503, "The database is unavailable; retry shortly.", type_=_TYPES + "unavailable")
    return problem_response(unavailable, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def failure_response(exc: Exception, scope: Scope | None = None, route: str | None = None) -> Response:
    """The answer to an error no handler expected: 503 when the database is out of reach, else a
    500, logged, never shown. A database error is logged by its type, SQLSTATE and where it
    happened only: its message can quote the row (PostgreSQL's "DETAIL: Failing row contains
    ..."), which is health data."""
    if database_unavailable(exc):
        return unavailable_response(exc, scope, route)
    where = _where(scope, route)
    if isinstance(exc, DBAPIError):
        frames = "".join(traceback.format_tb(exc.__traceback__))
        sqlstate = getattr(exc.orig, "sqlstate", None)
        logger.error("database error in %s: %s (SQLSTATE %s)\n%s", where, type(exc.orig).__name__, sqlstate, frames)
    else:
        logger.error("unhandled error in %s: %s", where, type(exc).__name__, exc_info=exc)
    return problem_response(problem(500, "The service failed to answer; the error has been logged."))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return failure_response(exc, request.scope)


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
