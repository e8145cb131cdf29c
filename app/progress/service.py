"""Outcome scores and a user's progress on a ladder. Every query is scoped to the calling
partner: another partner's user has no sessions and no scores here. Scores are erased with the
user (`app.sessions.service.erase_user`)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import Progression
from app.db.rows import user_row
from app.db.transactions import InTransaction, Transaction
from app.errors import InvalidRequest
from app.idempotency.service import StoredAnswer, write_once
from app.kit import new_id, render, utc_text
from app.pagination import newest_first
from app.progress.chart_data import Chart, ChartSession
from app.progress.instruments import INSTRUMENTS
from app.progress.schemas import OutcomeIn
from app.progress.tables import OutcomeRow
from app.progression.ladder import positions
from app.progression.reading import is_qualifying, position_dose
from app.recommendations.service import recommend_from_history
from app.sealing import service as sealing
from app.sessions.documents import performance
from app.sessions.tables import SessionRow

DEFAULT_PERIOD = timedelta(days=90)
LONGEST_PERIOD = timedelta(days=731)  # two years of daily sessions still answer in a few milliseconds


def _outcome(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "instrument": row["instrument"],
        "score": row["score"],
        "recorded_at": utc_text(row["recorded_at"]),
        "received_at": utc_text(row["received_at"]),
        "note": row["note"],
    }


async def record_outcome(
    *,
    transaction: Transaction,
    partner_id: int,
    user_id: str,
    body: OutcomeIn,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[StoredAnswer, bool]:
    """Store one score (once per `Idempotency-Key`); the answer and whether it is a replay."""

    async def work(connection: AsyncConnection) -> StoredAnswer:
        row = {
            "id": new_id(),
            "partner_id": partner_id,
            "user_id": user_id,
            "instrument": body.instrument,
            "score": float(body.score),
            "recorded_at": body.recorded_at,
            "received_at": datetime.now(UTC),
            "note": body.note,
        }
        keys = await sealing.for_writing(connection, partner_id, {user_id} if body.note is not None else ())
        await connection.execute(insert(OutcomeRow).values(row | {"note": keys.seal(user_id, body.note)}))
        return StoredAnswer(201, render(_outcome(row)), private_to=frozenset(keys.keys))

    return await write_once(
        transaction, partner_id=partner_id, key=idempotency_key, fingerprint=fingerprint, user_id=user_id, work=work
    )


async def get_outcome(*, connection: AsyncConnection, partner_id: int, user_id: str, outcome_id: str) -> dict[str, Any]:
    """One score of the user, or NotFound."""
    row = await user_row(
        connection, OutcomeRow, partner_id=partner_id, user_id=user_id, row_id=outcome_id, what="outcome score"
    )
    return _outcome((await sealing.opened(connection, partner_id, [row], "note"))[0])


async def list_outcomes(
    *,
    connection: AsyncConnection,
    partner_id: int,
    user_id: str,
    instrument: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """One page, newest `recorded_at` first (then latest received), and the key to continue after."""
    query = select(OutcomeRow).where(col(OutcomeRow.partner_id) == partner_id, col(OutcomeRow.user_id) == user_id)
    if instrument is not None:
        query = query.where(col(OutcomeRow.instrument) == instrument)
    rows, last = await newest_first(
        connection, query, moment=col(OutcomeRow.recorded_at), tie=col(OutcomeRow.seq), after=after, limit=limit
    )
    return [_outcome(row) for row in await sealing.opened(connection, partner_id, rows, "note")], last


def period(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The period asked for. By default it ends at the end of today (UTC), so the same history
    gives the same chart all day, and starts `DEFAULT_PERIOD` before its end."""
    if until is None:
        until = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    since = since if since is not None else until - DEFAULT_PERIOD
    if since > until:
        raise InvalidRequest("since is after until", loc=["query", "since"])
    if until - since > LONGEST_PERIOD:
        raise InvalidRequest("the period is longer than two years; ask for it in parts", loc=["query", "since"])
    return since.astimezone(UTC), until.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class History:
    """What a progress answer and its chart are made of."""

    ladder: Progression
    since: datetime
    until: datetime
    sessions: list[dict[str, Any]]  # the contract's session items, oldest first
    marks: list[tuple[bool, bool]]  # per session: (paused: pain at the stop level, red flag)
    outcomes: list[dict[str, Any]]


async def read_history(
    *, connection: AsyncConnection, ladder: Progression, partner_id: int, user_id: str, since: datetime, until: datetime
) -> History:
    """The ladder's sessions in the period (those of its steps naming it or no ladder), and
    every score up to its end."""
    steps = {step.exercise: index for index, step in enumerate(ladder.steps)}
    rank = {position: number for number, position in enumerate(positions(ladder), start=1)}
    found = await connection.execute(
        select(SessionRow)
        .where(
            col(SessionRow.partner_id) == partner_id,
            col(SessionRow.user_id) == user_id,
            col(SessionRow.performed_at) >= since,
            col(SessionRow.performed_at) <= until,
            col(SessionRow.exercise).in_(sorted(steps)),
            or_(col(SessionRow.progression).is_(None), col(SessionRow.progression) == ladder.slug),
        )
        .order_by(col(SessionRow.performed_at), col(SessionRow.seq))
    )
    sessions, marks = [], []
    rules = ladder.rules
    for row in found.mappings():
        index = steps[row["exercise"]]
        step = ladder.steps[index]
        done = performance(row)
        dose = position_dose(step, row["target_dose"])
        pain = done.pain
        sessions.append(
            {
                "id": row["id"],
                "performed_at": row["performed_at"],
                "position": rank[(index, dose)],
                "step": step.step,
                "exercise": row["exercise"],
                "dose": row["target_dose"],
                "pain": {
                    "before": pain.before,
                    "during": pain.during,
                    "after": pain.after,
                    "next_morning": pain.next_morning,
                },
                "rpe": row["rpe"],
                "qualifying": is_qualifying(done, step, rules),
            }
        )
        peak = max(p for p in (pain.before, pain.during, pain.after, pain.next_morning) if p is not None)
        marks.append((peak >= rules.pain_stop, bool(done.red_flags)))
    scores = await connection.execute(
        select(OutcomeRow)
        .where(
            col(OutcomeRow.partner_id) == partner_id,
            col(OutcomeRow.user_id) == user_id,
            col(OutcomeRow.recorded_at) <= until,
        )
        .order_by(col(OutcomeRow.recorded_at), col(OutcomeRow.seq))
    )
    return History(ladder, since, until, sessions, marks, [dict(row) for row in scores.mappings()])


def iso_week(moment: datetime | date) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def weeks(history: History) -> list[dict[str, Any]]:
    """Every ISO week the period touches, with its sessions (weeks without any too)."""
    by_week: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for session in history.sessions:
        by_week[iso_week(session["performed_at"])].append(session)
    found = []
    day = history.since.date()
    last = history.until.date()
    seen: set[str] = set()
    while day <= last:
        week = iso_week(day)
        if week not in seen:
            seen.add(week)
            mine = by_week.get(week, [])
            found.append(
                {
                    "week": week,
                    "sessions": len(mine),
                    "days_active": len({s["performed_at"].date() for s in mine}),
                    "highest_position": max((s["position"] for s in mine), default=None),
                    "mean_pain_during": round(fmean(s["pain"]["during"] for s in mine), 1) if mine else None,
                }
            )
        day += timedelta(days=1)
    return found


def trends(history: History) -> list[dict[str, Any]]:
    """Per instrument with a score: the first and the latest, the change, and whether it is meaningful."""
    by_instrument: dict[str, list[float]] = defaultdict(list)
    for row in history.outcomes:
        by_instrument[row["instrument"]].append(row["score"])
    found = []
    for code, instrument in INSTRUMENTS.items():
        scores = by_instrument.get(code)
        if not scores:
            continue
        baseline, latest = scores[0], scores[-1]
        found.append(
            {
                "instrument": code,
                "baseline": baseline,
                "latest": latest,
                "change": instrument.change(baseline, latest),
                "meaningful": instrument.meaningful(baseline, latest) if len(scores) > 1 else None,
            }
        )
    return found


async def _history_asked(
    connection: AsyncConnection,
    catalogue: LiveCatalogue,
    *,
    partner_id: int,
    user_id: str,
    progression: str,
    since: datetime | None,
    until: datetime | None,
) -> History:
    ladder = catalogue.progression(progression)
    start, end = period(since, until, datetime.now(UTC))
    return await read_history(
        connection=connection, ladder=ladder, partner_id=partner_id, user_id=user_id, since=start, until=end
    )


async def progress(
    *, connection: AsyncConnection, catalogue: LiveCatalogue, partner_id: int, user_id: str, **asked: Any
) -> dict[str, Any]:
    """The progress document: sessions with their positions, weeks, outcome trends and the
    current recommendation (`asked`: `progression`, `since`, `until`)."""
    history = await _history_asked(connection, catalogue, partner_id=partner_id, user_id=user_id, **asked)
    recommendation = await recommend_from_history(
        statements=InTransaction(connection),
        catalogue=catalogue,
        partner_id=partner_id,
        user_id=user_id,
        progression=history.ladder.slug,
        as_of=None,
    )
    return {
        "progression": history.ladder.slug,
        "since": history.since,
        "until": history.until,
        "sessions": history.sessions,
        "weeks": weeks(history),
        "outcomes": trends(history),
        "recommendation": recommendation,
    }


async def chart(
    *, connection: AsyncConnection, catalogue: LiveCatalogue, partner_id: int, user_id: str, **asked: Any
) -> Chart:
    """What the progress chart draws (its ETag is made from it, before it is drawn)."""
    history = await _history_asked(connection, catalogue, partner_id=partner_id, user_id=user_id, **asked)
    ladder = history.ladder
    ladder_positions = positions(ladder)
    first_positions: dict[int, int] = {}  # step index: its first position
    for number, (index, _dose) in enumerate(ladder_positions, start=1):
        first_positions.setdefault(index, number)
    names = [catalogue.exercises[step.exercise].name for step in ladder.steps]
    return Chart(
        user_id=user_id,
        ladder_name=ladder.name,
        positions=len(ladder_positions),
        steps=[(number, names[index]) for index, number in first_positions.items()],
        since=history.since,
        until=history.until,
        sessions=[
            ChartSession(
                performed_at=session["performed_at"],
                position=session["position"],
                pain_during=session["pain"]["during"],
                pain_next_morning=session["pain"]["next_morning"],
                red_flag=red_flag,
                paused=paused,
            )
            for session, (paused, red_flag) in zip(history.sessions, history.marks, strict=True)
        ],
    )
