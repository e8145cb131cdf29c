"""What a stored recommendation reads: the part of a user's history the rules can look at on one
ladder, in a bounded number of indexed reads, whatever the length of the history.

The rules (`app.progression.engine`) are given a subset of the user's sessions that answers
exactly as the whole history would:

1. **First read** (every recommendation, one statement): the ladder's latest `lookback` sessions
   (the *block*: every ladder session from the oldest of them to L); the ladder's sessions in the
   48 hours up to L whose pain or leg symptoms could make rule 5 fire; every red-flagged session
   no clearance covers (rule 1); and the latest session with pain at the stop level (rule 2).
2. **A longer block** (rule 8's walk reached the oldest of the block): the latest 50.
3. **After severe pain older than the block** (rule 2): the ladder's latest session before it,
   when the base step is not its own, then the first session that could be the restart.

A red-flagged session comes with a clearance that covers it, if one exists, so the rules see
cleared flags as cleared. Each statement is built once per ladder shape and returns session
rows, found by seq through the indexes of `app.sessions.tables`.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.sql import Subquery
from sqlmodel import col

from app.clearances.tables import ClearanceRow
from app.db import DriverStatement, Statements, UTCDateTime
from app.progression.engine import (
    RECENT,
    RESTART_REST,
    WINDOW_CAP,
    LadderView,
    history_suffices,
    in_order,
    latest_severe,
    restart_position,
)
from app.progression.model import Clearance, Ladder, LoggedSession
from app.sessions.documents import performance
from app.sessions.tables import RED_FLAGGED, SessionRow

_NEWEST_FIRST = (col(SessionRow.performed_at).desc(), col(SessionRow.seq).desc())
_OLDEST_FIRST = (col(SessionRow.performed_at), col(SessionRow.seq))
_MAX_PAIN = 10
LONG_AGO = datetime(1, 1, 2, tzinfo=UTC)  # before any session or clearance


@dataclass(frozen=True, slots=True)
class History:
    sessions: list[LoggedSession]
    clearances: list[Clearance]


@dataclass(frozen=True, slots=True)
class Read:
    """One statement of a recommendation's reads, with its parameters."""

    statement: DriverStatement
    parameters: dict[str, Any]


class Reads:
    """The statements that read a user's history for `ladder`, as of `as_of`."""

    def __init__(self, ladder: Ladder, *, partner_id: int, user_id: str, as_of: datetime) -> None:
        self.ladder, self.view = ladder, LadderView(ladder)
        self.exercises = tuple(step.exercise for step in ladder.steps)
        if any("," in exercise for exercise in self.exercises):  # sent joined by commas (slugs hold none)
            raise ValueError(f"an exercise slug with a comma: {self.exercises!r}")
        self.parameters = {
            "partner_id": partner_id,
            "user_id": user_id,
            "as_of": as_of,
            "progression": ladder.slug,
            "exercises": ",".join(self.exercises),
            "pain_ok": ladder.rules.pain_ok,
        }

    def first(self) -> Read:
        """The block of `lookback` sessions, recent pain, uncleared red flags and the latest severe pain."""
        return Read(_first_read(self.exercises, self.view.lookback, self.ladder.rules.pain_stop), self.parameters)

    def longer_block(self) -> Read:
        return Read(_block_read(self.exercises, WINDOW_CAP), self.parameters)

    def ladder_session_before(self, session: LoggedSession) -> Read:
        before = {"at": session.performed_at, "seq": session.received_order}
        return Read(_ladder_session_before(self.exercises), self.parameters | before)

    def first_restart(self, severe: LoggedSession, restart: tuple[int, int]) -> Read:
        index, dose = restart
        step = self.ladder.steps[index]
        return Read(
            _first_restart(self.exercises, index),
            self.parameters
            | {
                "below": ",".join(self.exercises[:index]),
                "restart_exercise": step.exercise,
                "above_restart": dose + step.increment,
                "rested": severe.performed_at + RESTART_REST,
                "pain_limit": self.ladder.rules.pain_limit,
            },
        )


async def read_history(
    *, statements: Statements, ladder: Ladder, partner_id: int, user_id: str, as_of: datetime
) -> History:
    """The sessions and clearances the rules need to recommend the next step on `ladder`."""
    reads = Reads(ladder, partner_id=partner_id, user_id=user_id, as_of=as_of)
    view = reads.view
    found: dict[int, LoggedSession] = {}
    clearances: set[Clearance] = set()

    async def run(read: Read) -> list[LoggedSession]:
        for row in await statements.statement(read.statement, read.parameters):
            found[row["seq"]] = _logged(row)
            if row["cover_recorded_at"] is not None:
                clearances.add(Clearance(row["cover_cleared_at"], row["cover_recorded_at"]))
        return in_order(found.values())

    ordered = await run(reads.first())
    lookback = view.lookback
    block = _block(view, ordered, lookback)
    if len(block) == lookback and not history_suffices(ladder, block):
        lookback = WINDOW_CAP
        ordered = await run(reads.longer_block())
        block = _block(view, ordered, lookback)
    severe = latest_severe(view, ordered)
    if severe is not None and len(block) == lookback and _before(severe, block[0]):
        # Severe pain older than the block: the sessions between it and the block are unread.
        if not view.owns(severe):
            ordered = await run(reads.ladder_session_before(severe))
        ordered = await run(reads.first_restart(severe, restart_position(view, severe, ordered)))
    return History(sessions=ordered, clearances=sorted(clearances, key=lambda c: c.recorded_at))


def _logged(row: dict[str, Any]) -> LoggedSession:
    return LoggedSession(
        id=row["id"],
        exercise=row["exercise"],
        progression=row["progression"],
        performed_at=row["performed_at"],
        received_at=row["received_at"],
        received_order=row["seq"],
        performance=performance(row),
    )


def _block(view: LadderView, ordered: Sequence[LoggedSession], lookback: int) -> list[LoggedSession]:
    """The latest `lookback` ladder sessions read (every read returns the true latest ones, and
    any other ladder session read is older than them)."""
    return [s for s in ordered if view.owns(s)][-lookback:]


def _before(session: LoggedSession, other: LoggedSession) -> bool:
    return (session.performed_at, session.received_order) < (other.performed_at, other.received_order)


# -- the statements -----------------------------------------------------------------------------

_PARTNER, _USER = bindparam("partner_id", type_=Integer), bindparam("user_id", type_=String)
_AS_OF = bindparam("as_of", type_=UTCDateTime)
_MINE = (col(SessionRow.partner_id) == _PARTNER, col(SessionRow.user_id) == _USER)
_UP_TO_AS_OF = col(SessionRow.performed_at) <= _AS_OF
_OF_THE_LADDER = or_(
    col(SessionRow.progression).is_(None), col(SessionRow.progression) == bindparam("progression", type_=String)
)
_RULES_READ = (
    col(SessionRow.seq),
    col(SessionRow.id),
    col(SessionRow.exercise),
    col(SessionRow.progression),
    col(SessionRow.performed_at),
    col(SessionRow.received_at),
    col(SessionRow.target_dose),
    col(SessionRow.set_doses),
    col(SessionRow.rpe),
    col(SessionRow.pain_before),
    col(SessionRow.pain_during),
    col(SessionRow.pain_after),
    col(SessionRow.pain_next_morning),
    col(SessionRow.support_used),
    col(SessionRow.faults),
    col(SessionRow.red_flags),
    col(SessionRow.leg_symptoms_before),
    col(SessionRow.leg_symptoms_after),
)


# A clearance that covers the session row's red flags: the same user's, recorded by `as_of` and
# after the session arrived, clearing the person after the session was performed.
_COVERS = (
    col(ClearanceRow.partner_id) == col(SessionRow.partner_id),
    col(ClearanceRow.user_id) == col(SessionRow.user_id),
    col(ClearanceRow.received_at) >= col(SessionRow.received_at),
    col(ClearanceRow.received_at) <= _AS_OF,
    col(ClearanceRow.cleared_at) >= col(SessionRow.performed_at),
)


def _covering(column: Any) -> Any:
    """`column` of a clearance that covers the row's red flags; null for a row without."""
    covering = (
        select(column)
        .where(*_COVERS)
        .order_by(col(ClearanceRow.received_at))
        .limit(literal_column("1"))
        .correlate(SessionRow)
        .scalar_subquery()
    )
    return case((RED_FLAGGED, covering), else_=None)


def _rows(dialect: str, *seqs: Select) -> Select:
    """The rows the rules read for the sessions whose seqs the parts select, each found by its
    primary key. On PostgreSQL through a LATERAL join: the planner cannot estimate how few rows
    the parts find (it has no statistics on the red-flag index's predicate), and a plain join
    hashed them against a scan of the whole table."""
    found = union(*seqs).subquery("found")
    read = select(
        *_RULES_READ,
        _covering(col(ClearanceRow.cleared_at)).label("cover_cleared_at"),
        _covering(col(ClearanceRow.received_at)).label("cover_recorded_at"),
    )
    if dialect == "postgresql":
        # (LIMIT 1 keeps the planner from flattening the LATERAL join back into a hash join.)
        row = read.where(col(SessionRow.seq) == found.c.seq).limit(literal_column("1")).lateral("row")
        return select(row).select_from(found).join(row, true())
    return read.select_from(found).join(SessionRow, col(SessionRow.seq) == found.c.seq)


def _in_list(name: str) -> ColumnElement[bool]:
    """The row's exercise is one of a comma-joined text parameter (PostgreSQL)."""
    listed = func.string_to_array(bindparam(name, type_=String), literal_column("','"))
    return col(SessionRow.exercise) == func.any(listed)


def _per_exercise(
    dialect: str, exercises: Sequence[str] | str, where: Sequence[Any], *, newest_first: bool, limit: int
) -> Subquery:
    """The seqs (and times) of each exercise's first `limit` ladder sessions that meet `where`,
    newest or oldest first, then the first `limit` of them all: an index range scan per
    exercise. On PostgreSQL `exercises` names the comma-joined parameter the exercises come in
    (a LATERAL join over them, one statement for every ladder); on SQLite it lists them (a
    branch each)."""
    limit_sql: Any = literal_column(str(limit))
    order = _NEWEST_FIRST if newest_first else _OLDEST_FIRST
    conditions = (*_MINE, _UP_TO_AS_OF, _OF_THE_LADDER, *where)
    if dialect == "postgresql":
        assert isinstance(exercises, str)
        listed = func.string_to_array(bindparam(exercises, type_=String), literal_column("','"))
        steps = func.unnest(listed).table_valued("exercise").render_derived(name="step")
        of_step = select(col(SessionRow.seq), col(SessionRow.performed_at)).where(
            *conditions, col(SessionRow.exercise) == steps.c.exercise
        )
        firsts = of_step.order_by(*order).limit(limit_sql).lateral("firsts")
        merged = select(firsts).select_from(steps).join(firsts, true()).subquery("merged")
    else:
        branches = [
            select(col(SessionRow.seq), col(SessionRow.performed_at))
            .where(*conditions, col(SessionRow.exercise) == exercise)
            .order_by(*order)
            .limit(limit_sql)
            .subquery()
            .select()
            for exercise in exercises
        ]
        merged = union_all(*branches).subquery("merged")
    keys: tuple[Any, ...] = (merged.c.performed_at, merged.c.seq)
    if newest_first:
        keys = (merged.c.performed_at.desc(), merged.c.seq.desc())
    return select(merged.c.seq, merged.c.performed_at).order_by(*keys).limit(limit_sql).subquery("firsts_of_all")


def _seqs(part: Subquery) -> Select:
    return select(part.c.seq)


@functools.lru_cache(maxsize=64)
def _first_read(exercises: tuple[str, ...], lookback: int, pain_stop: int) -> DriverStatement:
    def build(dialect: str) -> Select:
        listed: Sequence[str] | str = "exercises" if dialect == "postgresql" else exercises
        block = select(_per_exercise(dialect, listed, (), newest_first=True, limit=lookback)).cte("block")
        latest = select(func.max(block.c.performed_at)).scalar_subquery()
        if dialect == "postgresql":
            since = latest - literal_column(f"interval '{int(RECENT.total_seconds())} seconds'")
            of_ladder = _in_list("exercises")
        else:
            since = func.datetime(latest, f"-{int(RECENT.total_seconds())} seconds")
            of_ladder = col(SessionRow.exercise).in_(exercises)
        # Rule 5 can fire only on pain above pain_ok (it is below pain_limit) or symptoms after.
        recent = select(col(SessionRow.seq)).where(
            *_MINE,
            _UP_TO_AS_OF,
            _OF_THE_LADDER,
            of_ladder,
            col(SessionRow.performed_at) >= since,
            or_(
                col(SessionRow.pain_peak) > bindparam("pain_ok", type_=Integer),
                col(SessionRow.leg_symptoms_after).in_(
                    [literal_column("'above_knee'"), literal_column("'below_knee'")]
                ),
            ),
        )
        # Red flags no clearance covers. The latest clearance recorded by `as_of` covers every
        # flag performed by its `cleared_at` that had arrived when it was recorded, so only the
        # flags performed or received after those two instants are looked at (two ranges of the
        # red-flag indexes): the cost follows the flags since the last clearance, not all of them.
        last = (
            select(col(ClearanceRow.received_at), col(ClearanceRow.cleared_at))
            .where(col(ClearanceRow.partner_id) == _PARTNER, col(ClearanceRow.user_id) == _USER)
            .where(col(ClearanceRow.received_at) <= _AS_OF)
            .order_by(col(ClearanceRow.received_at).desc())
            .limit(literal_column("1"))
            .subquery("last_clearance")
        )
        long_ago = bindparam("long_ago", value=LONG_AGO, type_=UTCDateTime)
        not_covered = ~select(literal_column("1")).where(*_COVERS).correlate(SessionRow).exists()
        uncleared = [
            select(col(SessionRow.seq)).where(
                *_MINE,
                _UP_TO_AS_OF,
                RED_FLAGGED,
                column > func.coalesce(select(instant).scalar_subquery(), long_ago),
                not_covered,
            )
            for column, instant in (
                (col(SessionRow.performed_at), last.c.cleared_at),
                (col(SessionRow.received_at), last.c.received_at),
            )
        ]
        # The latest session at each pain level from the stop level up (a loose index scan).
        levels = [
            select(col(SessionRow.seq), col(SessionRow.performed_at))
            .where(*_MINE, _UP_TO_AS_OF, col(SessionRow.pain_peak) == literal_column(str(level)))
            .order_by(*_NEWEST_FIRST)
            .limit(literal_column("1"))
            .subquery()
            .select()
            for level in range(pain_stop, _MAX_PAIN + 1)
        ]
        severe = union_all(*levels).subquery("levels")
        latest_severe = (
            select(severe.c.seq)
            .order_by(severe.c.performed_at.desc(), severe.c.seq.desc())
            .limit(literal_column("1"))
            .subquery()
            .select()
        )
        return _rows(dialect, select(block.c.seq), recent, *uncleared, latest_severe)

    return DriverStatement(build)


@functools.lru_cache(maxsize=64)
def _block_read(exercises: tuple[str, ...], lookback: int) -> DriverStatement:
    def build(dialect: str) -> Select:
        listed: Sequence[str] | str = "exercises" if dialect == "postgresql" else exercises
        return _rows(dialect, _seqs(_per_exercise(dialect, listed, (), newest_first=True, limit=lookback)))

    return DriverStatement(build)


@functools.lru_cache(maxsize=64)
def _ladder_session_before(exercises: tuple[str, ...]) -> DriverStatement:
    """The ladder's latest session before the one at (`at`, `seq`) in the rules' order."""

    def build(dialect: str) -> Select:
        listed: Sequence[str] | str = "exercises" if dialect == "postgresql" else exercises
        earlier = tuple_(col(SessionRow.performed_at), col(SessionRow.seq)) < tuple_(
            bindparam("at", type_=UTCDateTime), bindparam("seq", type_=Integer)
        )
        return _rows(dialect, _seqs(_per_exercise(dialect, listed, (earlier,), newest_first=True, limit=1)))

    return DriverStatement(build)


@functools.lru_cache(maxsize=64)
def _first_restart(exercises: tuple[str, ...], index: int) -> DriverStatement:
    """The first ladder session that could restart the ladder after severe pain, when the
    restart position is step `index` (from 0) at its start: at least 24 hours after the severe
    session (`rested`), pain before within the limit, and on a step below (`below`) or on that
    step at its start (`restart_exercise`, a dose below `above_restart`). One scan forward in
    time from `rested`, which stops at the first such session: a person who follows the pause
    restarts soon after it."""

    def build(dialect: str) -> Select:
        at_start = and_(
            col(SessionRow.exercise) == bindparam("restart_exercise", type_=String),
            col(SessionRow.target_dose) < bindparam("above_restart", type_=Integer),
        )
        if index == 0:  # no step below the first
            on_a_restart_step: ColumnElement[bool] = at_start
        elif dialect == "postgresql":
            on_a_restart_step = or_(_in_list("below"), at_start)
        else:
            on_a_restart_step = or_(col(SessionRow.exercise).in_(exercises[:index]), at_start)
        first = (
            select(col(SessionRow.seq))
            .where(
                *_MINE,
                _UP_TO_AS_OF,
                _OF_THE_LADDER,
                col(SessionRow.performed_at) >= bindparam("rested", type_=UTCDateTime),
                or_(
                    col(SessionRow.pain_before).is_(None),
                    col(SessionRow.pain_before) <= bindparam("pain_limit", type_=Integer),
                ),
                on_a_restart_step,
            )
            .order_by(*_OLDEST_FIRST)
            .limit(literal_column("1"))
            .subquery()
            .select()
        )
        return _rows(dialect, first)

    return DriverStatement(build)
