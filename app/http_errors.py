"""The one mapping from errors to HTTP answers: domain errors, the framework's (validation,
404, 405) and the database's (503 when it is out of reach, else a logged 500 that shows
nothing), each as problem+json."""

import logging
import sqlite3
import traceback
from http import HTTPStatus

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from app.errors import (
    _TYPES,
    PROBLEM_MEDIA_TYPE,
    BadRequest,
    DomainError,
    InvalidRequest,
    Problem,
    problem,
    problem_document,
    validation_problems,
)
from app.request_id import request_id_of
from app.routing import allowed_methods

logger = logging.getLogger("stepwise")


def problem_response(body: Problem, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(problem_document(body), status_code=body.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def error_response(error: DomainError) -> Response:
    return problem_response(error.problem(), error.headers)


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
