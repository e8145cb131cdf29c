"""Schemathesis findings judged false positives, each with its reason. Loaded by the CLI run of
tests/test_schemathesis.py (SCHEMATHESIS_HOOKS); a `filter_failure` hook drops exactly these:
a schema-valid request (ST202) answered 422 whose every error is at one of the places below, or
answered 413 for a partner's document over its size in bytes; and a schema-violating one (ST201)
refused with that same 413, its size checked before its fields. Anything else Schemathesis finds
fails the test."""

from typing import Any

import schemathesis

REJECTED_POSITIVE_DATA = "ST202"  # "Schema-valid request rejected" (Schemathesis never reuses a code)
ACCEPTED_NEGATIVE_DATA = "ST201"  # "Schema-violating request accepted": any status but its 4xx list

CATALOGUE_DATA = (
    "Muscles and equipment are named by slugs of the catalogue's lists (GET /v1/muscles, /v1/equipment): "
    "data the service serves, not a set the schema fixes."
)
CROSS_FIELD = (
    "A ladder's checks compare fields with each other (start ≤ target, target − start a multiple of the "
    "increment, pain_ok < pain_limit < pain_stop); JSON Schema bounds each field alone, so a schema-valid "
    "draft can break them and is rightly refused, with every broken check named."
)

WEBHOOK_URL = (
    "A webhook URL is `https` to a host that resolves to public addresses only: what a name resolves to is "
    "DNS data at the time of the request (and the test machine resolves no outside name), beyond JSON Schema."
)

# (part of the request, field, words of the message): why the 422 is right. The field is the
# last name in the error's `loc`, so a session's field matches in evaluate's `sessions` too.
FALSE_POSITIVES: dict[tuple[str, str, str], str] = {
    ("query", "cursor", "not one this service issued"): (
        "A cursor is opaque: only a `next_cursor` the service issued is one. The schema can say no more "
        "than `string` (up to 512 characters), so a made-up cursor fits it and is rightly refused."
    ),
    ("header", "Idempotency-Key", "already used with a different request"): (
        "Schemathesis sends one generated Idempotency-Key with different bodies. The key promises the "
        "same request, so the contract answers the second body 422 (IETF Idempotency-Key draft)."
    ),
    ("body", "performed_at", "more than 5 minutes in the future"): (
        "A session cannot have been done in the future. JSON Schema has no way to compare a date-time with "
        "the server's clock, so a far-future `performed_at` fits the schema and is rightly refused."
    ),
    ("body", "cleared_at", "more than 5 minutes in the future"): (
        "A clinician cannot have cleared a person in the future; as with `performed_at`, JSON Schema cannot "
        "compare a date-time with the server's clock."
    ),
    ("body", "exercise", "unknown exercise"): (
        "An exercise slug names an entry of the catalogue, which is data the service serves, not a set "
        "the schema fixes; an unknown slug is a 422 by the contract."
    ),
    ("body", "exercise", "there is no exercise"): (
        "A draft ladder's steps name exercises of the catalogue, which is data the service serves, not a set "
        "the schema fixes."
    ),
    ("body", "exercise", "is already a step"): (
        "An exercise is at most one step of a ladder: uniqueness of one field across array items is beyond "
        "JSON Schema (`uniqueItems` compares whole items)."
    ),
    ("body", "progression", "there is no ladder"): (
        "A session's `progression` names a ladder the partner can see with the session's exercise as a step: "
        "catalogue data, and a tie between two fields, neither of which JSON Schema can state."
    ),
    ("body", "primary", "there is no muscle"): CATALOGUE_DATA,
    ("body", "secondary", "there is no muscle"): CATALOGUE_DATA,
    ("body", "equipment", "there is no equipment"): CATALOGUE_DATA,
    ("body", "code", "is already a fault of this exercise"): (
        "Fault codes are unique within an exercise: uniqueness of one field across array items is beyond JSON Schema."
    ),
    ("body", "slug", "the slug in the path"): (
        "A PUT's body names the same slug as its path: a tie between the path and the body that OpenAPI cannot state."
    ),
    ("body", "target", "must be at least start"): CROSS_FIELD,
    ("body", "increment", "multiple of the increment"): CROSS_FIELD,
    ("body", "pain_limit", "must be above pain_ok"): CROSS_FIELD,
    ("body", "pain_stop", "must be above pain_limit"): CROSS_FIELD,
    ("body", "recorded_at", "more than 5 minutes in the future"): (
        "A questionnaire cannot have been filled in in the future; as with `performed_at`, JSON Schema cannot "
        "compare a date-time with the server's clock."
    ),
    ("query", "since", "since is after until"): (
        "A period starts before it ends: a tie between two query parameters, which OpenAPI cannot state."
    ),
    ("query", "since", "longer than two years"): (
        "A progress period spans at most two years: a limit on the distance between two query parameters, "
        "which OpenAPI cannot state."
    ),
    ("body", "url", "does not resolve"): WEBHOOK_URL,
    ("body", "url", "not public"): WEBHOOK_URL,
    ("body", "url", "must be an https URL"): WEBHOOK_URL,
    ("body", "url", "has no host"): WEBHOOK_URL,
    ("body", "url", "is not a valid URL"): WEBHOOK_URL,
    ("body", "faults", "has no fault code"): (
        "Fault codes belong to the exercise (its `faults` in the catalogue): which codes are valid depends "
        "on another field's value, which JSON Schema cannot express; a code the exercise lacks is a 422."
    ),
}


DOCUMENT_SIZE = (
    "A partner's own exercise or ladder is at most 64 KiB of JSON: a bound on the whole document's size in "
    "bytes, which JSON Schema cannot state (`maxLength` counts one string's characters, whatever their bytes)."
)
DOCUMENT_TOO_LARGE = "the most one exercise or ladder may be"


def judged_false_positive(status: int, problem: Any) -> str | None:
    """The reason a 422 (or a document's 413) for a schema-valid request is not a finding, or
    None when it is one."""
    if refused_as_too_large(status, problem):
        return DOCUMENT_SIZE
    if status != 422 or not isinstance(problem, dict) or not problem.get("errors"):
        return None
    reasons = set()
    for error in problem["errors"]:
        loc, message = error.get("loc") or [None], str(error.get("msg", ""))
        field = next((part for part in reversed(loc) if isinstance(part, str)), None)
        reason = next(
            (
                why
                for (part, name, words), why in FALSE_POSITIVES.items()
                if (loc[0], field) == (part, name) and words in message
            ),
            None,
        )
        if reason is None:
            return None
        reasons.add(reason)
    return " ".join(sorted(reasons))


def refused_as_too_large(status: int, problem: Any) -> bool:
    """A schema-violating document refused 413 for its size, before its fields were checked:
    refused, by a status Schemathesis does not count as a refusal."""
    return status == 413 and isinstance(problem, dict) and DOCUMENT_TOO_LARGE in str(problem.get("detail", ""))


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    if failure.code not in (REJECTED_POSITIVE_DATA, ACCEPTED_NEGATIVE_DATA):
        return True
    try:
        problem = response.json()
    except ValueError:
        return True
    if failure.code == ACCEPTED_NEGATIVE_DATA:
        return not refused_as_too_large(response.status_code, problem)
    return judged_false_positive(response.status_code, problem) is None
