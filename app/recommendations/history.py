"""What a stored recommendation reads: the part of a user's history the rules can look at on one
ladder, in a bounded number of indexed reads, whatever the length of the history.

The rules (`app.progression.engine`) are given a subset of the user's sessions that answers
exactly as the whole history would:

1. **First read** (every recommendation, one statement): the ladder's latest `lookback` sessions
   (the *block*: every ladder session from the oldest of them to L); the ladder's sessions in the
   48 hours up to L whose pain or leg symptoms could make rule 5 fire; the red-flagged sessions
   the latest clearance does not cover (rule 1); and the latest session with pain at the stop level, the
   ladder's session before it and the first session that could restart the ladder (rule 2).
2. **A longer block**, only when rule 8's walk reached the oldest of the block: the latest 50.

A red-flagged session comes with a clearance that covers it, if one exists, so the rules see
cleared flags as cleared. Each statement is built once per ladder shape and returns session
rows, found by seq through the indexes of `app.sessions.tables`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db.statements import DriverStatement
from app.db.transactions import Statements
from app.progression.ladder import WINDOW_CAP, history_suffices, view_of
from app.progression.model import Clearance, Ladder, LoggedSession
from app.progression.reading import in_order
from app.recommendations.reads import block_read, first_read
from app.sessions.documents import performance

NO_DOSE = 601  # above any dose a session can plan


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
        self.ladder, self.view = ladder, view_of(ladder)
        self.exercises = tuple(step.exercise for step in ladder.steps)
        # Each step's lowest dose above its start: a session below it is at the step's start (on a
        # step of one dose, every session is).
        self.above_starts = tuple(
            step.start + step.increment if step.start < step.target else NO_DOSE for step in ladder.steps
        )
        if any("," in exercise for exercise in self.exercises):  # sent joined by commas (slugs hold none)
            raise ValueError(f"an exercise slug with a comma: {self.exercises!r}")
        self.parameters = {
            "partner_id": partner_id,
            "user_id": user_id,
            "as_of": as_of,
            "progression": ladder.slug,
            "exercises": ",".join(self.exercises),
            "pain_ok": ladder.rules.pain_ok,
            "pain_limit": ladder.rules.pain_limit,
            "above_starts": ",".join(map(str, self.above_starts)),
        }

    def first(self) -> Read:
        """The block of `lookback` sessions, recent pain, uncleared red flags, and the latest
        severe pain with the sessions rule 2 reads around it."""
        rules = self.ladder.rules
        statement = first_read(self.exercises, self.above_starts, self.view.lookback, rules.pain_stop)
        return Read(statement, self.parameters)

    def longer_block(self) -> Read:
        return Read(block_read(self.exercises, WINDOW_CAP), self.parameters)


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
    # The latest `lookback` ladder sessions read: every read returns the true latest ones, and
    # any other ladder session it returns is older than them.
    block = [s for s in ordered if view.owns(s)][-view.lookback :]
    if len(block) == view.lookback and not history_suffices(ladder, block):
        ordered = await run(reads.longer_block())
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
