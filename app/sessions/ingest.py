"""Logging sessions: one (`post_session`), or a batch whose items are judged one by one
(`post_batch`, through `store`); both answer each row alike (`_answer`).

A single session's statements are driver statements (`app.db.DriverStatement`), run alone
when no `Idempotency-Key` came. A batch reads top to bottom: every item is checked into its row
or its problem, the rows are stored in one statement, and the answers are put back in item
order. The checking is lazy so that it overlaps the database's insert (the overlap documented
in `app.sessions.bulk`, worth about 1.1x on a 500-session batch). Both kinds of post run once
per `Idempotency-Key` (`app.idempotency.service.run_once`).
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.catalogue.memory import LiveCatalogue
from app.db.transactions import InTransaction, Statements, Transaction
from app.errors import Conflict, DomainError, InvalidRequest, problem_document, validation_problems
from app.idempotency.service import StoredAnswer, run_once
from app.kit import USER_ID, new_id, render
from app.sealing import service as sealing
from app.sealing.crypto import Unreadable
from app.sealing.service import UserKeys
from app.sessions.bulk import (
    INSERT_ONE,
    INSERT_ONE_QUEUING,
    INSERT_ONE_SEALED,
    INSERT_ONE_SEALED_QUEUING,
    insert_sessions,
)
from app.sessions.checks import checked
from app.sessions.documents import Row, row_values, same_content, to_document
from app.sessions.queries import CLIENT_SESSION
from app.sessions.schemas import BatchItemIn, SessionIn
from app.sessions.tables import SessionRow
from app.webhooks import events, outbox
from app.webhooks.outbox import Subscriptions


class _KeyChanged(Exception):
    """The user's key read earlier is no longer theirs: nothing was stored."""


@dataclass(frozen=True, slots=True)
class Stored:
    status: int  # 201 stored now, 200 already stored with the same content
    session: dict[str, Any]


async def store(
    *,
    connection: AsyncConnection,
    catalogue: LiveCatalogue,
    partner_id: int,
    rows: Iterable[Row],
    expected: int,
    may_clash: bool,
    keys: UserKeys,
) -> list[Stored | Conflict]:
    """Store checked rows in one statement and answer each, in the order `rows` gave them. A
    `client_session_id` already stored for the user answers 200 (same content) or a Conflict;
    the unique constraint decides, so concurrent duplicates store exactly one row. `may_clash`
    False promises that no row has a client id; `expected` is about how many rows come; `keys`
    are those of the users whose rows have notes, held for writing."""
    rows, inserted, documents = await insert_sessions(
        connection=connection,
        rows=rows,
        expected=expected,
        may_clash=may_clash,
        meanwhile=lambda sent: [to_document(row, catalogue) for row in sent],
        stored=lambda row: row if row["notes"] is None else row | {"notes": keys.seal(row["user_id"], row["notes"])},
    )
    clashes = {(row["user_id"], row["client_session_id"]) for row in rows if row["id"] not in inserted}
    existing: dict[tuple[str, str | None], Row] = {}
    if clashes:
        found = await connection.execute(
            select(SessionRow).where(
                col(SessionRow.partner_id) == partner_id,
                tuple_(col(SessionRow.user_id), col(SessionRow.client_session_id)).in_(sorted(clashes)),
            )
        )
        clashed = await sealing.opened(connection, partner_id, found.mappings(), "notes")
        existing = {(r["user_id"], r["client_session_id"]): r for r in clashed}
    return [
        _answer(
            row,
            new=document if row["id"] in inserted else None,
            earlier=existing.get((row["user_id"], row["client_session_id"])),
            catalogue=catalogue,
        )
        for row, document in zip(rows, documents, strict=True)
    ]


def _answer(row: Row, *, new: Row | None, earlier: Row | None, catalogue: LiveCatalogue) -> Stored | Conflict:
    """A row's answer: `new`, its document, when it was stored; else its `client_session_id`
    was taken, by `earlier` (the stored row, if still there)."""
    if new is not None:
        return Stored(201, new)
    if earlier is None:  # the clashing session was erased between the insert and this read
        return Conflict("A session with this client_session_id was being erased; retry the request.")
    if same_content(earlier, row):
        return Stored(200, to_document(earlier, catalogue))
    return Conflict(
        f"client_session_id {row['client_session_id']!r} is already stored for this user with other content."
    )


async def post_session(
    *,
    transaction: Transaction,
    catalogue: LiveCatalogue,
    subscriptions: Subscriptions,
    partner_id: int,
    user_id: str,
    body: SessionIn,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    """One session, and whether the answer is a replay. With no `idempotency_key`, its
    statement runs alone: the INSERT, with its events' outbox rows when the partner has an
    endpoint wanting them (one statement on PostgreSQL: `INSERT_ONE_QUEUING`), commits by itself
    in one round trip, and a clash's read follows it; notes are sealed under the user's key as
    read lately, which the INSERT checks (`INSERT_ONE_SEALED`). Otherwise (an `Idempotency-Key`,
    a user's first note, or a key that changed) claiming the key, reading or making the user's
    key, the session, its events and the answer share one transaction (as do the events on
    SQLite)."""
    post_one = partial(_post_one, catalogue=catalogue, partner_id=partner_id, user_id=user_id, body=body)
    wanted = events.wants_any(subscriptions, partner_id, events.STORED_SESSION_EVENTS)
    if idempotency_key is None and (not wanted or transaction.one_statement):
        database = transaction.engine.url
        known = None if body.notes is None else sealing.known_keys(database, partner_id, user_id)
        if body.notes is None or known is not None:
            try:
                stored, _ = await post_one(
                    statements=transaction, subscriptions=subscriptions if wanted else None, keys=known, known=True
                )
                return stored, False
            except _KeyChanged:  # erased (and maybe made again) since it was read: in a transaction, then
                sealing.forget_known(database, partner_id, user_id)

    async def with_events(connection: AsyncConnection) -> StoredAnswer:
        keys = None if body.notes is None else await sealing.for_writing(connection, partner_id, {user_id})
        stored, document = await post_one(statements=InTransaction(connection), keys=keys)
        if document is not None:
            await events.session_stored(
                connection, subscriptions, partner_id=partner_id, documents=[document], catalogue=catalogue
            )
        return stored

    async def once(*, connection: AsyncConnection) -> tuple[StoredAnswer, bool]:
        if idempotency_key is None:
            return await with_events(connection), False
        return await run_once(
            connection=connection,
            partner_id=partner_id,
            key=idempotency_key,
            fingerprint=fingerprint,
            user_ids=lambda: {user_id},
            work=lambda: with_events(connection),
        )

    return await transaction(once)


async def _post_one(
    *,
    statements: Statements,
    catalogue: LiveCatalogue,
    partner_id: int,
    user_id: str,
    body: SessionIn,
    subscriptions: Subscriptions | None = None,
    keys: UserKeys | None = None,
    known: bool = False,
) -> tuple[StoredAnswer, Row | None]:
    """The answer, and the new session's document (None when it was stored before). With
    `subscriptions` (a statement run alone, on PostgreSQL), its events are queued by the INSERT;
    with `keys` (the user's) the notes are stored sealed: `known` keys were read earlier, and
    the INSERT checks they are still the user's (else `_KeyChanged`), the others are held for
    writing by the caller's transaction."""
    checked(body, catalogue, at=["body"])
    row = row_values(
        session_id=new_id(), partner_id=partner_id, user_id=user_id, body=body, received_at=datetime.now(UTC)
    )
    stored_row = row if keys is None else row | {"notes": keys.seal(user_id, row["notes"])}
    document = to_document(row, catalogue)
    queuing = (
        events.stored_session_events(subscriptions, partner_id=partner_id, document=document, catalogue=catalogue)
        if subscriptions is not None
        else []
    )
    checking = known and keys is not None
    if checking:
        assert keys is not None
        stored_row |= {"wrapped": keys.wrapped[user_id]}
    if queuing:
        parameters = stored_row | outbox.event_parameters(queuing, row["received_at"])
        inserted = await statements.statement(INSERT_ONE_SEALED_QUEUING if checking else INSERT_ONE_QUEUING, parameters)
        if inserted and inserted[0]["queued"]:
            statements.notify(outbox.QUEUED)
    else:
        inserted = await statements.statement(INSERT_ONE_SEALED if checking else INSERT_ONE, stored_row)
    earlier = None
    if not inserted:  # its client_session_id is taken (the unique constraint decides), or its key changed
        if checking and body.client_session_id is None:
            raise _KeyChanged
        parameters = {"partner_id": partner_id, "user_id": user_id, "client_session_id": body.client_session_id}
        found = await statements.statement(CLIENT_SESSION, parameters)
        earlier = found[0] if found else None
        if checking and earlier is None:
            raise _KeyChanged
        # Opened when this post has notes too (else sealed notes already differ from none).
        if earlier is not None and keys is not None:
            try:
                earlier = earlier | {"notes": keys.open(user_id, earlier["notes"])}
            except Unreadable:
                if not checking:
                    raise
                raise _KeyChanged from None
    new = document if inserted else None
    answer = _answer(row, new=new, earlier=earlier, catalogue=catalogue)
    if isinstance(answer, Conflict):
        raise answer
    return StoredAnswer(answer.status, render(answer.session), private_to=_noted([answer.session])), new


async def post_batch(
    *,
    connection: AsyncConnection,
    catalogue: LiveCatalogue,
    subscriptions: Subscriptions,
    partner_id: int,
    raw_items: list[Any],
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    """Judge each item as a single POST would; one bad item fails only itself."""

    async def work() -> StoredAnswer:
        received_at = datetime.now(UTC)
        # 1. Every item checked, in order, into its row or the problem that refuses it. Lazily:
        #    `store` takes the rows as they come, so the database inserts the first ones while
        #    later items are still being checked (the overlap, app.sessions.bulk).
        outcomes: list[Row | InvalidRequest] = []

        def rows_as_checked() -> Iterator[Row]:
            for index, raw in enumerate(raw_items):
                outcome = _checked_item(index, raw, catalogue, partner_id, received_at)
                outcomes.append(outcome)
                if not isinstance(outcome, InvalidRequest):
                    yield outcome

        # 2. The rows stored, each answered in the order it was sent; notes sealed under the
        #    keys of their users (made first, for every user an item with notes names).
        keys = await sealing.for_writing(connection, partner_id, _noting_users(raw_items))
        stored = await store(
            connection=connection,
            catalogue=catalogue,
            partner_id=partner_id,
            rows=rows_as_checked(),
            expected=len(raw_items),
            may_clash=any(isinstance(raw, dict) and raw.get("client_session_id") is not None for raw in raw_items),
            keys=keys,
        )
        # 3. The events of every session stored now (none of one stored before).
        new = [outcome.session for outcome in stored if isinstance(outcome, Stored) and outcome.status == 201]
        await events.session_stored(
            connection, subscriptions, partner_id=partner_id, documents=new, catalogue=catalogue
        )
        # 4. The answers put back in item order: a problem where the check refused, else the store's answer.
        answers = iter(stored)
        results = [
            _result(index, outcome if isinstance(outcome, InvalidRequest) else next(answers))
            for index, outcome in enumerate(outcomes)
        ]
        answered = [outcome.session for outcome in stored if isinstance(outcome, Stored)]
        return StoredAnswer(200, render({"results": results}), private_to=_noted(answered))

    return await run_once(
        connection=connection,
        partner_id=partner_id,
        key=idempotency_key,
        fingerprint=fingerprint,
        user_ids=lambda: _named_users(raw_items),
        work=work,
    )


def _checked_item(
    index: int, raw: Any, catalogue: LiveCatalogue, partner_id: int, received_at: datetime
) -> Row | InvalidRequest:
    """Item `index` of a batch as the row to store, or the 422 that refuses it."""
    at: list[str | int] = ["body", "sessions", index]
    try:
        item = BatchItemIn.model_validate(raw)
        checked(item, catalogue, at=at)
    except ValidationError as error:
        return InvalidRequest.of(validation_problems(error.errors(include_url=False), tuple(at)))
    except InvalidRequest as refusal:
        return refusal
    return row_values(
        session_id=new_id(), partner_id=partner_id, user_id=item.user_id, body=item, received_at=received_at
    )


def _result(index: int, outcome: Stored | DomainError) -> dict[str, Any]:
    if isinstance(outcome, DomainError):
        return {"index": index, "status": outcome.status, "problem": problem_document(outcome.problem())}
    return {"index": index, "status": outcome.status, "session": outcome.session}


def _noted(sessions: Iterable[Row]) -> frozenset[str]:
    """The users whose notes these session documents hold."""
    return frozenset(session["user_id"] for session in sessions if session["notes"] is not None)


def _noting_users(raw_items: list[Any]) -> set[str]:
    """The users named by a batch's items that have notes (each a valid user id)."""
    named = (raw.get("user_id") for raw in raw_items if isinstance(raw, dict) and isinstance(raw.get("notes"), str))
    return {user for user in named if isinstance(user, str) and _valid_user_id(user)}


def _valid_user_id(user_id: str) -> bool:
    try:
        USER_ID.validate_python(user_id)
    except ValidationError:
        return False
    return True


def _named_users(raw_items: list[Any]) -> set[str]:
    """Whose data a batch's stored answer may hold: every user id its items name."""
    return {raw["user_id"] for raw in raw_items if isinstance(raw, dict) and isinstance(raw.get("user_id"), str)}
