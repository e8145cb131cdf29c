"""The statements a stored recommendation runs (`app.recommendations.history` says when): each
built once per ladder shape, each reading by index, whatever the length of the history. They
find sessions; the rules judge them (`app.progression`)."""

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.sql import Subquery
from sqlmodel import col

from app.clearances.tables import ClearanceRow
from app.db.statements import DriverStatement
from app.db.types import UTCDateTime
from app.progression.ladder import RECENT, RESTART_REST
from app.sessions.tables import RED_FLAGGED, SessionRow

_NEWEST_FIRST = (col(SessionRow.performed_at).desc(), col(SessionRow.seq).desc())
_OLDEST_FIRST = (col(SessionRow.performed_at), col(SessionRow.seq))
_MAX_PAIN = 10
LONG_AGO = datetime(1, 1, 2, tzinfo=UTC)  # before any session or clearance


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
_RULES_READ_NAMES = list(select(*_RULES_READ).selected_columns.keys())


def _read(*where: Any) -> Select:
    """The columns the rules read of the sessions that meet `where`."""
    return select(*_RULES_READ).where(*where)


def _with_clearances(*parts: Select) -> Select:
    """The sessions the parts find (a session may be found twice), each with a clearance that
    covers its red flags, if there is one: the same user's, recorded by `as_of` and after the
    session arrived, clearing the person after the session was performed. Worked out once over
    all the parts (each subquery is a few plan nodes, and a plan's nodes cost to start and end
    on every run)."""
    found = union_all(*parts).subquery("found")

    def covering(column: Any) -> Any:
        clearance = (
            select(column)
            .where(
                col(ClearanceRow.partner_id) == _PARTNER,
                col(ClearanceRow.user_id) == _USER,
                col(ClearanceRow.received_at) >= found.c.received_at,
                col(ClearanceRow.received_at) <= _AS_OF,
                col(ClearanceRow.cleared_at) >= found.c.performed_at,
            )
            .order_by(col(ClearanceRow.received_at))
            .limit(literal_column("1"))
            .scalar_subquery()
        )
        flagged = func.json_array_length(found.c.red_flags) > literal_column("0")
        return case((flagged, clearance), else_=None)

    return select(
        found,
        covering(col(ClearanceRow.cleared_at)).label("cover_cleared_at"),
        covering(col(ClearanceRow.received_at)).label("cover_recorded_at"),
    )


def _listed(parameter: str) -> Any:
    """The array of a comma-joined text parameter (PostgreSQL): slugs hold no comma."""
    return func.string_to_array(bindparam(parameter, type_=String), literal_column("','"))


def _in_list(parameter: str) -> ColumnElement[bool]:
    """The row's exercise is one of a comma-joined text parameter (PostgreSQL)."""
    return col(SessionRow.exercise) == func.any(_listed(parameter))


def _per_exercise(
    dialect: str, exercises: Sequence[str] | str, where: Sequence[Any], *, newest_first: bool, limit: int
) -> Subquery:
    """The rows of each exercise's first `limit` ladder sessions that meet `where`,
    newest or oldest first, then the first `limit` of them all: an index range scan per
    exercise. On PostgreSQL `exercises` names the comma-joined parameter the exercises come in
    (a LATERAL join over them, one statement for every ladder); on SQLite it lists them (a
    branch each)."""
    limit_sql: Any = literal_column(str(limit))
    order = _NEWEST_FIRST if newest_first else _OLDEST_FIRST
    conditions = (*_MINE, _UP_TO_AS_OF, _OF_THE_LADDER, *where)
    if dialect == "postgresql":
        assert isinstance(exercises, str)
        steps = func.unnest(_listed(exercises)).table_valued("exercise").render_derived(name="step")
        of_step = _read(*conditions, col(SessionRow.exercise) == steps.c.exercise)
        firsts = of_step.order_by(*order).limit(limit_sql).lateral("firsts")
        merged = select(firsts).select_from(steps).join(firsts, true()).subquery("merged")
    else:
        branches = [
            _read(*conditions, col(SessionRow.exercise) == exercise)
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
    return select(merged).order_by(*keys).limit(limit_sql).subquery("firsts_of_all")


@functools.lru_cache(maxsize=64)
def first_read(
    exercises: tuple[str, ...], above_starts: tuple[int, ...], lookback: int, pain_stop: int
) -> DriverStatement:
    return DriverStatement(
        lambda dialect: _with_clearances(*first_read_parts(dialect, exercises, above_starts, lookback, pain_stop))
    )


def first_read_parts(
    dialect: str, exercises: tuple[str, ...], above_starts: tuple[int, ...], lookback: int, pain_stop: int
) -> list[Select]:
    """The first read's parts, each selecting the rows of the sessions it finds."""
    listed: Sequence[str] | str = "exercises" if dialect == "postgresql" else exercises
    block = select(_per_exercise(dialect, listed, (), newest_first=True, limit=lookback)).cte("block")
    latest = select(func.max(block.c.performed_at)).scalar_subquery()
    oldest = select(func.min(block.c.performed_at)).scalar_subquery()
    if dialect == "postgresql":
        since = latest - literal_column(f"interval '{int(RECENT.total_seconds())} seconds'")
        of_ladder = _in_list("exercises")
    else:
        since = func.datetime(latest, f"-{int(RECENT.total_seconds())} seconds")
        of_ladder = col(SessionRow.exercise).in_(exercises)
    # Rule 5 can fire only on pain above pain_ok (it is below pain_limit) or symptoms after;
    # the block has the ladder's sessions from its oldest on (for a person who practises about
    # daily, the whole 48 hours: then this range is empty).
    recent = _read(
        *_MINE,
        _UP_TO_AS_OF,
        _OF_THE_LADDER,
        of_ladder,
        col(SessionRow.performed_at) >= since,
        col(SessionRow.performed_at) <= oldest,
        or_(
            col(SessionRow.pain_peak) > bindparam("pain_ok", type_=Integer),
            col(SessionRow.leg_symptoms_after).in_([literal_column("'above_knee'"), literal_column("'below_knee'")]),
        ),
    )
    # Red flags that may be uncleared. The latest clearance recorded by `as_of` covers every flag
    # performed by its `cleared_at` that had arrived when it was recorded, so only the flags
    # performed or received after those two instants are read (two ranges of the red-flag
    # indexes): the cost follows the flags since the last clearance, not all of them. Each row
    # comes with a clearance that covers it, if any (`_with_clearances`), for the rules to judge.
    last = (
        select(col(ClearanceRow.received_at), col(ClearanceRow.cleared_at))
        .where(col(ClearanceRow.partner_id) == _PARTNER, col(ClearanceRow.user_id) == _USER)
        .where(col(ClearanceRow.received_at) <= _AS_OF)
        .order_by(col(ClearanceRow.received_at).desc())
        .limit(literal_column("1"))
        .cte("last_clearance")
    )
    long_ago = bindparam("long_ago", value=LONG_AGO, type_=UTCDateTime)
    since_last = [
        _read(*_MINE, _UP_TO_AS_OF, RED_FLAGGED, column > func.coalesce(select(instant).scalar_subquery(), long_ago))
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
    at_each_level = union_all(*levels).subquery("levels")
    newest = (at_each_level.c.performed_at.desc(), at_each_level.c.seq.desc())
    worst = select(at_each_level.c.seq).order_by(*newest).limit(literal_column("1")).scalar_subquery()
    severe = select(*_RULES_READ, _OF_THE_LADDER.label("named")).where(col(SessionRow.seq) == worst).cte("severe")
    return [
        select(block),
        recent,
        *since_last,
        select(*(severe.c[name] for name in _RULES_READ_NAMES)),
        *_restart_search(dialect, exercises, above_starts, severe),
    ]


def _restart_search(dialect: str, exercises: Sequence[str], above_starts: Sequence[int], severe: Any) -> list[Select]:
    """What rule 2 reads after the latest severe pain (`severe`, a CTE of at most one row): the
    ladder's latest session before it (its step is the base step when the severe session is not
    the ladder's own), and the first ladder session that could restart the ladder: at least 24
    hours after it, pain before within the limit, at or below the restart position (the step
    before the base step, at its start). One scan forward in time from the rest, which stops at
    the first restart: a person who follows the pause restarts soon after it.

    The step of an exercise, the base step and the restart position are worked out here in SQL
    (as `app.progression.engine.restart_position` does), so that the search costs no round trip
    of its own; the engine judges the sessions found, so the SQL may find a session the engine
    refuses, never miss one it would take."""
    at = select(severe.c.performed_at).scalar_subquery()
    if dialect == "postgresql":

        def step_of(exercise: Any) -> Any:
            return func.array_position(_listed("exercises"), exercise) - literal_column("1")

        def above_start_of(step: Any) -> Any:
            field = func.split_part(bindparam("above_starts", type_=String), literal_column("','"), step + 1)
            return cast(field, Integer)

        rested = at + literal_column(f"interval '{int(RESTART_REST.total_seconds())} seconds'")
        highest: Any = func.greatest
    else:

        def step_of(exercise: Any) -> Any:
            return case({name: literal_column(str(index)) for index, name in enumerate(exercises)}, value=exercise)

        def above_start_of(step: Any) -> Any:
            return case({index: literal_column(str(dose)) for index, dose in enumerate(above_starts)}, value=step)

        # The same time a day later, to the microsecond (SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff").
        assert RESTART_REST == timedelta(days=1)
        rested = func.strftime("%Y-%m-%d", at, "+1 day").concat(func.substr(at, 11))
        highest = func.max
    ladder_sessions = (*_MINE, _UP_TO_AS_OF, _OF_THE_LADDER, step_of(col(SessionRow.exercise)).is_not(None))
    earlier = tuple_(col(SessionRow.performed_at), col(SessionRow.seq)) < tuple_(
        at, select(severe.c.seq).scalar_subquery()
    )
    before = _read(*ladder_sessions, earlier).order_by(*_NEWEST_FIRST).limit(literal_column("1")).cte("before_severe")
    own_step = select(case((severe.c.named, step_of(severe.c.exercise)), else_=None)).scalar_subquery()
    base = func.coalesce(own_step, select(step_of(before.c.exercise)).scalar_subquery(), literal_column("0"))
    restart_step = select(highest(base - literal_column("1"), literal_column("0")).label("step")).cte("restart_step")
    restart = select(restart_step.c.step).scalar_subquery()
    above_start = select(above_start_of(restart_step.c.step)).scalar_subquery()
    step = step_of(col(SessionRow.exercise))
    first = (
        _read(
            *ladder_sessions,
            col(SessionRow.performed_at) >= rested,
            or_(
                col(SessionRow.pain_before).is_(None),
                col(SessionRow.pain_before) <= bindparam("pain_limit", type_=Integer),
            ),
            or_(step < restart, and_(step == restart, col(SessionRow.target_dose) < above_start)),
        )
        .order_by(*_OLDEST_FIRST)
        .limit(literal_column("1"))
        .subquery()
        .select()
    )
    return [select(before), first]


@functools.lru_cache(maxsize=64)
def block_read(exercises: tuple[str, ...], limit: int) -> DriverStatement:
    def build(dialect: str) -> Select:
        listed: Sequence[str] | str = "exercises" if dialect == "postgresql" else exercises
        return _with_clearances(select(_per_exercise(dialect, listed, (), newest_first=True, limit=limit)))

    return DriverStatement(build)
