"""The one mapping between a session's three shapes: a request body, a stored row (the table's
columns, as a dict) and the contract's document (`SessionOut`), plus what the rules read.

A body becomes row values through `content_of`; a row becomes a document through `to_document`,
rendered as JSON-ready data once with the C JSON encoder (a batch answers 500 of them).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.catalogue.memory import LiveCatalogue
from app.kit import utc_text
from app.progression.model import LegSymptoms, Pain, Performance
from app.progression.reading import assess
from app.sessions.schemas import SessionIn

Row = dict[str, Any]


def pain_peak(before: int | None, during: int, after: int | None, next_morning: int | None) -> int:
    """The highest of a session's pain scores (the `pain_peak` column, which the severe-pain read indexes)."""
    return max(before or 0, during, after or 0, next_morning or 0)


def content_of(body: SessionIn) -> Row:
    """The columns a session's content fills (everything but ids, owner and received time)."""
    pain, legs = body.pain, body.leg_symptoms
    return {
        "client_session_id": body.client_session_id,
        "exercise": body.exercise,
        "progression": body.progression,
        "performed_at": body.performed_at,
        "target_dose": body.target_dose,
        "set_doses": [s.dose for s in body.sets],
        "rpe": body.rpe,
        "pain_before": pain.before,
        "pain_during": pain.during,
        "pain_after": pain.after,
        "pain_next_morning": pain.next_morning,
        "support_used": body.support_used,
        "faults": body.faults,
        "red_flags": body.red_flags,
        "leg_symptoms_before": legs and legs.before,
        "leg_symptoms_after": legs and legs.after,
        "pain_peak": pain_peak(pain.before, pain.during, pain.after, pain.next_morning),
        "duration_seconds": body.duration_seconds,
        "notes": body.notes,
    }


def row_values(*, session_id: str, partner_id: int, user_id: str, body: SessionIn, received_at: datetime) -> Row:
    """Every column of a new session's row but `seq` (the database numbers it)."""
    return {"id": session_id, "partner_id": partner_id, "user_id": user_id, "received_at": received_at} | content_of(
        body
    )


def same_content(stored: Mapping[str, Any], values: Row) -> bool:
    """Whether a stored row holds the same session as `values` (a retry of the same post)."""
    return all(stored[k] == v for k, v in values.items() if k not in ("id", "received_at", "client_session_id"))


def performance(row: Mapping[Any, Any]) -> Performance:
    """What the rules read from a session's columns."""
    return Performance(
        target_dose=row["target_dose"],
        set_doses=tuple(row["set_doses"]),
        rpe=row["rpe"],
        pain=Pain(
            during=row["pain_during"],
            before=row["pain_before"],
            after=row["pain_after"],
            next_morning=row["pain_next_morning"],
        ),
        support_used=row["support_used"],
        faults=tuple(row["faults"]),
        red_flags=tuple(row["red_flags"]),
        leg_symptoms=LegSymptoms(row["leg_symptoms_before"], row["leg_symptoms_after"]),
    )


def to_document(row: Mapping[Any, Any], catalogue: LiveCatalogue) -> Row:
    """The contract's view of a stored session (a row, or the values just inserted as one), as
    JSON-ready data in the shape of `SessionOut`, with its assessment by the ladder's rules."""
    ladder = catalogue.ladder_step(row["exercise"], row["progression"])
    assessment = None
    if ladder is not None:
        progression, step = ladder
        assessment = assess(
            performance(row), progression=progression.slug, step=step, rules=progression.rules
        )._asdict()
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "client_session_id": row["client_session_id"],
        "exercise": row["exercise"],
        "progression": row["progression"],
        "performed_at": utc_text(row["performed_at"]),
        "target_dose": row["target_dose"],
        "sets": [{"dose": d} for d in row["set_doses"]],
        "rpe": row["rpe"],
        "pain": {
            "before": row["pain_before"],
            "during": row["pain_during"],
            "after": row["pain_after"],
            "next_morning": row["pain_next_morning"],
        },
        "support_used": row["support_used"],
        "faults": row["faults"],
        "red_flags": row["red_flags"],
        "leg_symptoms": None
        if row["leg_symptoms_before"] is None and row["leg_symptoms_after"] is None
        else {"before": row["leg_symptoms_before"], "after": row["leg_symptoms_after"]},
        "duration_seconds": row["duration_seconds"],
        "notes": row["notes"],
        "received_at": utc_text(row["received_at"]),
        "assessment": assessment,
    }
