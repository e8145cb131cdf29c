"""Session-log service: ingest (single and batch alike), read, amend, erase. Every query is
scoped to the partner of the calling key; another partner's users simply do not exist here."""

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Select, bindparam, delete, select, tuple_, union_all
from sqlmodel import Session

from app import idempotency
from app.catalogue.memory import LiveCatalogue
from app.db import UTCDateTime
from app.errors import (
    Conflict,
    DomainError,
    InvalidRequest,
    NotFound,
    Problem,
    ProblemError,
    problem,
    validation_problems,
)
from app.idempotency import StoredAnswer
from app.progression.engine import Pain, Performance, assess
from app.sessions.bulk import insert_sessions
from app.sessions.schemas import BatchItemIn, SessionIn, SessionPatch, utc_text
from app.sessions.tables import SessionRow


@dataclass(frozen=True, slots=True)
class Ingested:
    status: int  # 201 stored now, 200 already stored with the same content
    session: dict[str, Any]


# -- reading a stored session ------------------------------------------------------------------


def performance_of_row(row: dict[str, Any]) -> Performance:
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
        fault_count=len(row["faults"]),
        red_flags=tuple(row["red_flags"]),
    )


def to_document(row: SessionRow | dict[str, Any], catalogue: LiveCatalogue) -> dict[str, Any]:
    """The contract's view of a stored session (a row, or the values just inserted as one), as
    JSON-ready data in the shape of `SessionOut`: rendered once with the C JSON encoder, which
    matters when a batch answers 500 of them."""
    if isinstance(row, SessionRow):
        row = row.model_dump()
    ladder = catalogue.ladder_step(row["exercise"])
    assessment = None
    if ladder is not None:
        progression, step = ladder
        result = assess(performance_of_row(row), progression=progression.slug, step=step, rules=progression.rules)
        assessment = {
            "progression": result.progression,
            "completed": result.completed,
            "qualifying": result.qualifying,
            "pain_zone": result.pain_zone,
            "flare": result.flare,
            "red_flag": result.red_flag,
        }
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "client_session_id": row["client_session_id"],
        "exercise": row["exercise"],
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
        "duration_seconds": row["duration_seconds"],
        "notes": row["notes"],
        "received_at": utc_text(row["received_at"]),
        "assessment": assessment,
    }


def render(document: Any) -> str:
    return orjson.dumps(document).decode()


# -- ingest ------------------------------------------------------------------------------------


def performance_of_body(body: SessionIn) -> Performance:
    return Performance(
        target_dose=body.target_dose,
        set_doses=tuple(s.dose for s in body.sets),
        rpe=body.rpe,
        pain=Pain(
            during=body.pain.during, before=body.pain.before, after=body.pain.after, next_morning=body.pain.next_morning
        ),
        support_used=body.support_used,
        fault_count=len(body.faults),
        red_flags=tuple(body.red_flags),
    )


def check_against_catalogue(body: SessionIn, catalogue: LiveCatalogue) -> list[ProblemError]:
    """The exercise must exist and list every fault code given, and every red flag must be in the
    safety list; `loc` is relative to the body."""
    problems = [
        ProblemError(loc=["red_flags", i], msg=f"unknown red flag {code!r}; the codes are listed at /v1/safety")
        for i, code in enumerate(body.red_flags)
        if code not in catalogue.red_flag_codes
    ]
    codes = catalogue.fault_codes(body.exercise)
    if codes is None:
        return [ProblemError(loc=["exercise"], msg=f"unknown exercise {body.exercise!r}"), *problems]
    return [
        ProblemError(loc=["faults", i], msg=f"{body.exercise} has no fault code {code!r}")
        for i, code in enumerate(body.faults)
        if code not in codes
    ] + problems


def new_session_id() -> str:
    """A random 128-bit id, as 32 hex digits."""
    return os.urandom(16).hex()


def _row_values(partner_id: int, user_id: str, body: SessionIn, received_at: datetime) -> dict[str, Any]:
    pain = body.pain
    return {
        "id": new_session_id(),
        "partner_id": partner_id,
        "user_id": user_id,
        "client_session_id": body.client_session_id,
        "exercise": body.exercise,
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
        "duration_seconds": body.duration_seconds,
        "notes": body.notes,
        "received_at": received_at,
    }


_CONTENT = (
    "exercise",
    "target_dose",
    "set_doses",
    "rpe",
    "pain_before",
    "pain_during",
    "pain_after",
    "pain_next_morning",
    "support_used",
    "faults",
    "red_flags",
    "duration_seconds",
    "notes",
)


def _same_content(row: SessionRow, values: dict[str, Any]) -> bool:
    return row.performed_at == values["performed_at"] and all(getattr(row, k) == values[k] for k in _CONTENT)


def ingest(
    *,
    session: Session,
    catalogue: LiveCatalogue,
    partner_id: int,
    rows: Iterable[dict[str, Any]],
    size: int,
    may_clash: bool,
) -> list[Ingested | Conflict]:
    """Store checked sessions (row values, in order) in one statement, answering each in
    order. `rows` may be a generator: on PostgreSQL rows are sent while later ones are still
    being checked. A `client_session_id` already stored for the user answers 200 (same
    content) or a Conflict, enforced by the unique constraint, so concurrent duplicates store
    exactly one row; `may_clash` False promises there are no client ids in `rows`."""
    # Documents are built while the database is still inserting (most rows are new).
    values, inserted, documents = insert_sessions(
        session=session,
        rows=rows,
        size=size,
        may_clash=may_clash,
        meanwhile=lambda written: [to_document(v, catalogue) for v in written],
    )
    clashes = {(v["user_id"], v["client_session_id"]) for v in values if v["id"] not in inserted}
    existing: dict[tuple[str, str], SessionRow] = {}
    if clashes:
        found = session.execute(
            select(SessionRow).where(
                SessionRow.partner_id == partner_id,
                tuple_(SessionRow.user_id, SessionRow.client_session_id).in_(sorted(clashes)),
            )
        ).scalars()
        existing = {(r.user_id, r.client_session_id): r for r in found}
    results: list[Ingested | Conflict] = []
    for v, document in zip(values, documents, strict=True):
        if v["id"] in inserted:
            results.append(Ingested(201, document))
            continue
        stored = existing[(v["user_id"], v["client_session_id"])]
        if _same_content(stored, v):
            results.append(Ingested(200, to_document(stored, catalogue)))
        else:
            results.append(
                Conflict(
                    f"client_session_id {v['client_session_id']!r} is already stored for this user with other content."
                )
            )
    return results


def _idempotent(
    session: Session, partner_id: int, key: str | None, fingerprint: str, user_ids: Callable[[], set[str]], work
) -> tuple[StoredAnswer, bool]:
    """(answer, replayed): run `work` once per Idempotency-Key, replaying its answer on retries."""
    if key is None:
        return work(), False
    stored = idempotency.claim(session=session, partner_id=partner_id, key=key, fingerprint=fingerprint)
    if stored is not None:
        return stored, True
    try:
        with session.begin_nested():
            answer = work()
    except DomainError as refusal:
        # A refusal is the first answer too (nothing of the work is kept): a retry gets it
        # again, and the same key with another body is told the key is taken.
        answer = StoredAnswer(refusal.status, render(_dump(_problem_of(refusal))))
    idempotency.remember(session=session, partner_id=partner_id, key=key, answer=answer, user_ids=user_ids())
    return answer, False


def post_session(
    *,
    session: Session,
    catalogue: LiveCatalogue,
    partner_id: int,
    user_id: str,
    body: SessionIn,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    def work() -> StoredAnswer:
        problems = check_against_catalogue(body, catalogue)
        if problems:
            raise InvalidRequest(
                problems[0].msg, errors=[ProblemError(loc=["body", *p.loc], msg=p.msg) for p in problems]
            )
        row = _row_values(partner_id, user_id, body, datetime.now(UTC))
        (result,) = ingest(
            session=session,
            catalogue=catalogue,
            partner_id=partner_id,
            rows=[row],
            size=1,
            may_clash=body.client_session_id is not None,
        )
        if isinstance(result, Conflict):
            raise result
        return StoredAnswer(result.status, render(result.session))

    return _idempotent(session, partner_id, idempotency_key, fingerprint, lambda: {user_id}, work)


def post_batch(
    *,
    session: Session,
    catalogue: LiveCatalogue,
    partner_id: int,
    raw_items: list[Any],
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    """Judge each item as a single POST would; one bad item fails only itself."""

    def user_ids() -> set[str]:  # whose data the stored answer holds
        return {raw["user_id"] for raw in raw_items if isinstance(raw, dict) and isinstance(raw.get("user_id"), str)}

    may_clash = any(isinstance(raw, dict) and raw.get("client_session_id") is not None for raw in raw_items)

    def work() -> StoredAnswer:
        results: list[dict[str, Any] | None] = [None] * len(raw_items)
        accepted: list[int] = []
        received_at = datetime.now(UTC)

        def checked_rows() -> Iterator[dict[str, Any]]:
            # Consumed by the insert as it sends: checking overlaps the database's work.
            for index, raw in enumerate(raw_items):
                try:
                    item = BatchItemIn.model_validate(raw)
                except ValidationError as error:
                    errors = validation_problems(error.errors(include_url=False), ("body", "sessions", index))
                    results[index] = _item_problem(index, errors)
                    continue
                problems = check_against_catalogue(item, catalogue)
                if problems:
                    errors = [ProblemError(loc=["body", "sessions", index, *p.loc], msg=p.msg) for p in problems]
                    results[index] = _item_problem(index, errors)
                    continue
                accepted.append(index)
                yield _row_values(partner_id, item.user_id, item, received_at)

        stored = ingest(
            session=session,
            catalogue=catalogue,
            partner_id=partner_id,
            rows=checked_rows(),
            size=len(raw_items),
            may_clash=may_clash,
        )
        for index, outcome in zip(accepted, stored, strict=True):
            if isinstance(outcome, Conflict):
                results[index] = {
                    "index": index,
                    "status": 409,
                    "problem": _dump(problem(409, outcome.detail, type_=outcome.type)),
                }
            else:
                results[index] = {"index": index, "status": outcome.status, "session": outcome.session}
        return StoredAnswer(200, render({"results": results}))

    return _idempotent(session, partner_id, idempotency_key, fingerprint, user_ids, work)


def _item_problem(index: int, errors: list[ProblemError]) -> dict[str, Any]:
    detail = errors[0].msg if len(errors) == 1 else f"{len(errors)} problems; see errors."
    return {
        "index": index,
        "status": 422,
        "problem": _dump(problem(422, detail, type_=InvalidRequest.type, errors=errors)),
    }


def _problem_of(error: DomainError) -> Problem:
    return problem(error.status, error.detail, type_=error.type, errors=getattr(error, "errors", None))


def _dump(model: Problem) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


# -- reading, amending, erasing ----------------------------------------------------------------


def _find(session: Session, partner_id: int, user_id: str, session_id: str) -> SessionRow:
    row = session.execute(
        select(SessionRow).where(
            SessionRow.partner_id == partner_id, SessionRow.user_id == user_id, SessionRow.id == session_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"There is no session {session_id!r} for user {user_id!r}.")
    return row


def get_session(
    *, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, session_id: str
) -> dict[str, Any]:
    return to_document(_find(session, partner_id, user_id, session_id), catalogue)


def listing_query(
    *,
    partner_id: int,
    user_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    exercise: str | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 20,
) -> Select:
    """Newest first by (performed_at, received order), one keyset page (plus one row to tell
    whether another page follows); served by ix_session_log_user_time."""
    query = select(SessionRow).where(SessionRow.partner_id == partner_id, SessionRow.user_id == user_id)
    if since is not None:
        query = query.where(SessionRow.performed_at >= since)
    if until is not None:
        query = query.where(SessionRow.performed_at < until)
    if exercise is not None:
        query = query.where(SessionRow.exercise == exercise)
    if after is not None:
        query = query.where(tuple_(SessionRow.performed_at, SessionRow.seq) < tuple_(*after))
    return query.order_by(SessionRow.performed_at.desc(), SessionRow.seq.desc()).limit(limit + 1)


def list_sessions(
    *, session: Session, catalogue: LiveCatalogue, limit: int, **filters: Any
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    rows = session.execute(listing_query(limit=limit, **filters)).scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1].performed_at, rows[-1].seq) if more else None
    return [to_document(r, catalogue) for r in rows], last


def latest_for_ladder_query(
    *, partner_id: int, user_id: str, exercises: list[str], as_of: datetime, limit: int
) -> Select:
    """What the rules read, newest first: the user's latest `limit` sessions of any of
    `exercises` up to `as_of`, and their latest session of any exercise (red flags on it pause
    every ladder).

    One small index range scan per exercise (ix_session_log_user_exercise_time) and one over
    the user's history (ix_session_log_user_time), merged: the cost depends on `limit` and the
    number of exercises, not on the length of the history.
    """
    return _latest_for_ladder(tuple(exercises), limit).params(partner_id=partner_id, user_id=user_id, as_of=as_of)


@functools.lru_cache(maxsize=64)
def _latest_for_ladder(exercises: tuple[str, ...], limit: int) -> Select:
    # Built once per ladder shape (building a seven-way UNION costs more than running it).
    partner_id, user_id, as_of = bindparam("partner_id"), bindparam("user_id"), bindparam("as_of", type_=UTCDateTime)
    mine = (SessionRow.partner_id == partner_id, SessionRow.user_id == user_id, SessionRow.performed_at <= as_of)
    newest_first = (SessionRow.performed_at.desc(), SessionRow.seq.desc())
    branches = [
        select(SessionRow.seq).where(*mine, SessionRow.exercise == exercise).order_by(*newest_first).limit(limit)
        for exercise in exercises
    ]
    branches.append(select(SessionRow.seq).where(*mine).order_by(*newest_first).limit(1))
    seqs = union_all(*(branch.subquery().select() for branch in branches)).subquery()
    # The latest of all comes first; if it is not a ladder session, `limit` ladder ones follow.
    return select(SessionRow).where(SessionRow.seq.in_(select(seqs.c.seq))).order_by(*newest_first).limit(limit + 1)


def patch_session(
    *, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, session_id: str, patch: SessionPatch
) -> dict[str, Any]:
    row = _find(session, partner_id, user_id, session_id)
    if "notes" in patch.model_fields_set:
        row.notes = patch.notes
    if "pain" in patch.model_fields_set:
        if patch.pain is None:
            raise InvalidRequest("pain cannot be removed; patch pain.next_morning instead.", loc=["body", "pain"])
        if "next_morning" in patch.pain.model_fields_set:
            row.pain_next_morning = patch.pain.next_morning
    session.add(row)
    session.flush()
    return to_document(row, catalogue)


def erase_user(*, session: Session, partner_id: int, user_id: str) -> None:
    """Delete everything stored about one user of one partner, in the caller's transaction."""
    session.execute(delete(SessionRow).where(SessionRow.partner_id == partner_id, SessionRow.user_id == user_id))
    idempotency.forget_user(session=session, partner_id=partner_id, user_id=user_id)
