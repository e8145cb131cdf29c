"""Publishing a partner's own exercises and ladders: stored as the documents the partner wrote,
each change counted in the partner's revision in the same transaction, so every replica
notices it."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
import orjson
from pydantic import ValidationError
from sqlalchemy import Engine, Text, cast, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Session, col

from app.catalogue.ladders import LadderIn, ladder_problems, to_progression
from app.catalogue.memory import LiveCatalogue
from app.content.exercises import ExerciseIn, as_exercise, exercise_of, exercise_problems
from app.content.tables import PartnerContentRevision, PartnerExerciseRow, PartnerProgressionRow
from app.content.views import PartnerContent
from app.errors import Conflict, ContentLimit, Forbidden, InvalidRequest, NotFound, ProblemError
from app.partners.tables import utcnow

Table = type[PartnerExerciseRow] | type[PartnerProgressionRow]
KINDS: dict[str, Table] = {"exercise": PartnerExerciseRow, "progression": PartnerProgressionRow}


def _own_slugs(kind: str, content: PartnerContent) -> set[str]:
    return {document["slug"] for document in (content.exercises if kind == "exercise" else content.progressions)}


def _builtin_slugs(kind: str, builtin: LiveCatalogue) -> set[str]:
    return set(builtin.exercises if kind == "exercise" else builtin.progressions)


def _problems(body: ExerciseIn | LadderIn, builtin: LiveCatalogue, content: PartnerContent) -> list[ProblemError]:
    """Every broken check; with none, the document is also built as the catalogue will answer
    it, so nothing is stored that the partner's view could not show."""
    if isinstance(body, ExerciseIn):
        muscles = {m.slug: m for m in builtin.document.muscles}
        equipment = {e.slug: e for e in builtin.document.equipment}
        problems = exercise_problems(body, muscles=muscles, equipment=equipment, at=["body"])
        if not problems:
            problems = _unbuildable(lambda: as_exercise(body))
        return problems
    visible = dict(builtin.exercises)
    for stored in content.exercises:
        visible.setdefault(stored["slug"], exercise_of(stored))
    problems = ladder_problems(body, exercises=visible, at=["body"])
    if not problems:
        problems = _unbuildable(lambda: to_progression(body, exercises=visible, owner="partner"))
    return problems


def _unbuildable(build: Callable[[], object]) -> list[ProblemError]:
    try:
        build()
    except ValidationError as error:  # a limit of the answer's shape the checks did not name
        return [ProblemError(loc=["body", *e["loc"]], msg=e["msg"]) for e in error.errors()]
    return []


@dataclass(frozen=True)
class Limits:
    """How many exercises and ladders one partner may publish."""

    exercises: int
    ladders: int


async def publish(
    *,
    connection: AsyncConnection,
    builtin: LiveCatalogue,
    partner_id: int,
    body: ExerciseIn | LadderIn,
    slug: str | None = None,
    limits: Limits | None = None,
    known: PartnerContent | None = None,
) -> PartnerContent:
    """Create (`slug` None: POST) or replace (`slug`: PUT) one of the partner's exercises or
    ladders, checked against the partner's content as stored now and, when creating, against
    `limits`; returns the content after."""
    kind = "exercise" if isinstance(body, ExerciseIn) else "progression"
    await _bump(connection, partner_id)  # first: one write of a partner's at a time (see `_bump`)
    content = await _current(connection, partner_id, known)
    # Checking a ladder builds every exercise of the partner's (hundreds, at its limit): in a
    # worker thread, so no other partner's request waits on it.
    document = await anyio.to_thread.run_sync(
        partial(_checked, kind=kind, builtin=builtin, content=content, body=body, slug=slug, limits=limits)
    )
    table = KINDS[kind]
    if slug is None:
        try:
            now = utcnow()
            await connection.execute(
                insert(table).values(
                    partner_id=partner_id, slug=body.slug, document=document, created_at=now, updated_at=now
                )
            )
        except IntegrityError:  # the same slug published at the same moment by another request
            raise Conflict(f"You already have the {kind} {body.slug!r}.") from None
    else:
        await connection.execute(
            update(table)
            .where(col(table.partner_id) == partner_id, col(table.slug) == slug)
            .values(document=document, updated_at=utcnow())
        )
    return content.with_document(kind, document)


def _checked(
    *,
    kind: str,
    builtin: LiveCatalogue,
    content: PartnerContent,
    body: ExerciseIn | LadderIn,
    slug: str | None,
    limits: Limits | None,
) -> dict[str, Any]:
    """The document to store, once every check has passed (else the first refusal raised)."""
    if slug is None and limits is not None:
        _within(limits, kind, content)
    if slug is not None:  # PUT: the built-in catalogue's is 403, anything not the partner's own 404
        if slug in _builtin_slugs(kind, builtin):
            raise Forbidden(f"The {kind} {slug!r} is part of the built-in catalogue, which cannot be changed.")
        if slug not in _own_slugs(kind, content):
            raise NotFound(f"There is no {kind} {slug!r} of yours.")
    elif body.slug in _builtin_slugs(kind, builtin):  # POST: a slug in use is a 409, whatever the rest
        raise Conflict(f"The built-in catalogue already has the {kind} {body.slug!r}; choose another slug.")
    elif body.slug in _own_slugs(kind, content):
        raise Conflict(f"You already have the {kind} {body.slug!r}; PUT /v1/{kind}s/{body.slug} replaces it.")
    problems = _problems(body, builtin, content)
    if slug is not None and body.slug != slug:
        problems.insert(0, ProblemError(loc=["body", "slug"], msg=f"must be {slug!r}, the slug in the path"))
    if problems:
        raise InvalidRequest.of(problems)
    return body.model_dump(mode="json")


def _within(limits: Limits, kind: str, content: PartnerContent) -> None:
    """A new document past the partner's limit is a 409 that says which limit."""
    have, most, what = (
        (len(content.exercises), limits.exercises, "exercises")
        if kind == "exercise"
        else (len(content.progressions), limits.ladders, "ladders")
    )
    if have >= most:
        raise ContentLimit(
            f"You have {have} {what}, the most one partner may publish ({most}); delete one of them, "
            "or replace one with PUT, to publish another."
        )


async def unpublish(
    *,
    connection: AsyncConnection,
    builtin: LiveCatalogue,
    partner_id: int,
    kind: str,
    slug: str,
    known: PartnerContent | None = None,
) -> PartnerContent:
    """Delete one of the partner's own; an exercise still a step of one of its ladders is a 409
    (sessions already logged keep their data)."""
    if slug in _builtin_slugs(kind, builtin):
        raise Forbidden(f"The {kind} {slug!r} is part of the built-in catalogue, which cannot be changed.")
    await _bump(connection, partner_id)  # first: one write of a partner's at a time (see `_bump`)
    content = await _current(connection, partner_id, known)
    if slug not in _own_slugs(kind, content):
        raise NotFound(f"There is no {kind} {slug!r} of yours.")
    if kind == "exercise":
        using = sorted(
            ladder["slug"] for ladder in content.progressions if any(s["exercise"] == slug for s in ladder["steps"])
        )
        if using:
            raise Conflict(f"The exercise {slug!r} is a step of your ladders {', '.join(using)}; change them first.")
    table = KINDS[kind]
    await connection.execute(delete(table).where(col(table.partner_id) == partner_id, col(table.slug) == slug))
    return content.without_document(kind, slug)


async def _bump(connection: AsyncConnection, partner_id: int) -> None:
    """Count a change to the partner's content, in one atomic upsert that also locks the
    partner's revision row until the transaction ends. Done before the content is read, it makes
    a partner's writes take turns (on SQLite, writes take turns anyway): a ladder and the
    deletion of its exercise cannot both pass their checks, and a partner's first writes do not
    race to create the row. A write refused later rolls the count back."""
    upsert = sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert
    revision = PartnerContentRevision.__table__.c.revision  # type: ignore[attr-defined]
    await connection.execute(
        upsert(PartnerContentRevision)
        .values(partner_id=partner_id, revision=1)
        .on_conflict_do_update(index_elements=["partner_id"], set_={"revision": revision + 1})
    )


def _queries(partner_id: int, *, as_text: bool = False) -> tuple[Any, Any, Any]:
    """The partner's revision, exercises and ladders (oldest first; `as_text`: unparsed)."""
    revision = select(func.coalesce(func.max(col(PartnerContentRevision.revision)), 0)).where(
        col(PartnerContentRevision.partner_id) == partner_id
    )
    exercises, ladders = (
        select(cast(col(table.document), Text) if as_text else col(table.document))
        .where(col(table.partner_id) == partner_id)
        .order_by(col(table.created_at), col(table.slug))
        for table in (PartnerExerciseRow, PartnerProgressionRow)
    )
    return revision, exercises, ladders


async def _current(connection: AsyncConnection, partner_id: int, known: PartnerContent | None) -> PartnerContent:
    """The partner's content now, after `_bump`: `known` (what this replica holds) when the
    revision is the one after it, so no other write came in between; else read from the store.
    A write then costs one small read, not a parse of every document (tens of MB at the limits)."""
    if known is not None:
        revision, _, _ = _queries(partner_id)
        now = (await connection.execute(revision)).scalar_one()
        if now == known.revision + 1:
            return PartnerContent(now, known.exercises, known.progressions)
    return await read_content(connection=connection, partner_id=partner_id)


async def read_content(*, connection: AsyncConnection, partner_id: int) -> PartnerContent:
    """The partner's content as stored now. The documents are read as text and parsed in a
    worker thread, one at a time (hundreds of KiB each, at the limits: tens of MB)."""
    revision, exercises, ladders = _queries(partner_id, as_text=True)
    number = (await connection.execute(revision)).scalar_one()
    exercise_texts = [row[0] for row in await connection.execute(exercises)]
    ladder_texts = [row[0] for row in await connection.execute(ladders)]
    return await anyio.to_thread.run_sync(_parsed, number, exercise_texts, ladder_texts)


def _parsed(revision: int, exercises: list[str], ladders: list[str]) -> PartnerContent:
    # One document per call: the event loop's thread gets its turn between them.
    return PartnerContent(
        revision=revision,
        exercises=[orjson.loads(t) for t in exercises],
        progressions=[orjson.loads(t) for t in ladders],
    )


def stored_content(engine: Engine, partner_id: int) -> PartnerContent:
    revision, exercises, ladders = _queries(partner_id)
    with Session(engine) as session:
        return PartnerContent(
            revision=session.execute(revision).scalar_one(),
            exercises=[row[0] for row in session.execute(exercises)],
            progressions=[row[0] for row in session.execute(ladders)],
        )


def stored_revisions(engine: Engine) -> dict[int, int]:
    """Every partner's content revision (the replicas' cheap poll)."""
    with Session(engine) as session:
        rows = session.execute(select(col(PartnerContentRevision.partner_id), col(PartnerContentRevision.revision)))
        return {partner: revision for partner, revision in rows}
