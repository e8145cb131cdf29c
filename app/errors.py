"""The problem+json error model (RFC 9457): the errors services raise and the problem bodies
they become. A leaf: it knows neither the web framework nor the database; `app.http_errors`
maps these errors (and the framework's and the database's) to HTTP answers.

Services raise `DomainError` subclasses; each carries its status, problem type and (for
validation) `errors`. `DomainError.problem()` and `problem_document()` are the one way a problem
body is made, whether it is answered now, stored for an idempotent replay, or nested in a batch.
"""

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

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


class ContentLimit(DomainError, status=409, problem_type="content-limit"):
    """A partner already has as many exercises (or ladders) as one may publish."""


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


def _error_loc(loc: tuple[Any, ...]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_problems(errors: Sequence[Mapping[str, Any]], prefix: tuple[str | int, ...] = ()) -> list[ProblemError]:
    return [ProblemError(loc=_error_loc(prefix + tuple(e["loc"])), msg=e["msg"]) for e in errors]


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
