"""One ladder as the rules walk it: its positions, which sessions are its own, where a restart
after severe pain must be, the window of rule 8 and the recent sessions of rule 5. Pure."""

import threading
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property

from app.progression.model import (
    Ladder,
    LoggedSession,
    Prescription,
    Step,
)
from app.progression.reading import is_severe, position_dose

RECENT = timedelta(hours=48)  # rule 5 looks at the ladder's sessions this far back from L
RESTART_REST = timedelta(hours=24)  # a restart after severe pain comes at least this long after it
WINDOW_CAP = 50  # rule 8's walk takes at most this many sessions
Position = tuple[int, int]  # (step index from 0, dose)


def positions(ladder: Ladder) -> list[Position]:
    """Every (step index, dose) of the ladder, bottom to top."""
    return [
        (index, dose)
        for index, step in enumerate(ladder.steps)
        for dose in range(step.start, step.target + 1, step.increment)
    ]


class LadderView:
    """A ladder as the rules walk it: its positions in order, and which sessions are its own."""

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        self.rules = ladder.rules
        self.step_index = {step.exercise: index for index, step in enumerate(ladder.steps)}
        self.positions = positions(ladder)
        self.rank = {position: rank for rank, position in enumerate(self.positions)}

    def owns(self, session: LoggedSession) -> bool:
        """A session of one of the ladder's steps that names this ladder or none."""
        return session.exercise in self.step_index and session.progression in (None, self.ladder.slug)

    def step_of(self, session: LoggedSession) -> Step:
        return self.ladder.steps[self.step_index[session.exercise]]

    def position_of(self, session: LoggedSession) -> Position:
        index = self.step_index[session.exercise]
        return index, position_dose(self.ladder.steps[index], session.performance.target_dose)

    def rank_of(self, session: LoggedSession) -> int:
        return self.rank[self.position_of(session)]

    def prescription(self, position: Position) -> Prescription:
        step = self.ladder.steps[position[0]]
        return Prescription(step.step, step.exercise, step.sets, position[1], step.unit, step.support)

    @cached_property
    def lookback(self) -> int:
        """How many of the latest ladder sessions the stored path reads first: the streak rules'
        longest and one more, so that practising up to three times a day, the walk of rule 8
        stops within them (`history_suffices` tells when it does not)."""
        rules = self.rules
        return max(rules.streak, rules.incomplete_streak, rules.fault_streak) + 1


_VIEWS: dict[int, tuple[Ladder, LadderView]] = {}
_MAX_VIEWS = 512
_VIEWS_LOCK = threading.Lock()


def view_of(ladder: Ladder) -> LadderView:
    """The ladder's view, built once per ladder object (a recommendation asks for it several
    times; the catalogue keeps its ladders until it is re-synced). The cache holds the ladder
    itself, so its id is not reused while cached."""
    cached = _VIEWS.get(id(ladder))
    if cached is not None and cached[0] is ladder:
        return cached[1]
    view = LadderView(ladder)
    with _VIEWS_LOCK:  # evaluate runs in worker threads
        if len(_VIEWS) >= _MAX_VIEWS:
            _VIEWS.pop(next(iter(_VIEWS)))
        _VIEWS[id(ladder)] = (ladder, view)
    return view


def restart_position(view: LadderView, severe: LoggedSession, ordered: Sequence[LoggedSession]) -> Position:
    """Where a restart after `severe` (rule 2) must be, at the highest: the step before the base
    step, at its start. The base step is the severe session's own on this ladder, else the step
    of the ladder's latest session before it in `ordered` (the first step when there is none)."""
    if view.owns(severe):
        base = view.step_index[severe.exercise]
    else:
        before = _sessions_before(ordered, severe)
        base = next((view.step_index[s.exercise] for s in reversed(before) if view.owns(s)), 0)
    index = max(base - 1, 0)
    return index, view.ladder.steps[index].start


def is_restart(view: LadderView, session: LoggedSession, severe: LoggedSession, restart: Position) -> bool:
    """A ladder session that ends the pause after `severe`: at least 24 hours after it, at or
    below the restart position, and with pain before (if given) within the limit."""
    before = session.performance.pain.before
    return (
        view.owns(session)
        and session.performed_at - severe.performed_at >= RESTART_REST
        and view.rank_of(session) <= view.rank[restart]
        and (before is None or before <= view.rules.pain_limit)
    )


def _sessions_before(ordered: Sequence[LoggedSession], session: LoggedSession) -> Sequence[LoggedSession]:
    key = (session.performed_at, session.received_order)
    return [s for s in ordered if (s.performed_at, s.received_order) < key]


def latest_severe(view: LadderView, ordered: Sequence[LoggedSession]) -> LoggedSession | None:
    """The user's latest session, of any exercise, with pain at the ladder's stop level."""
    return next((s for s in reversed(ordered) if is_severe(s.performance.pain, view.rules)), None)


class Walk:
    """Rule 8's window: taken walking back from L, oldest first once built."""

    def __init__(self, view: LadderView, history: Sequence[LoggedSession]) -> None:
        rules = view.rules
        latest = history[-1]
        here = view.position_of(latest)
        rest, gap = timedelta(hours=rules.min_rest_hours), timedelta(days=rules.break_days)
        taken, counted = [latest], [latest]
        # Whether the walk wanted a session older than the oldest of `history`.
        self.ran_out = True
        for session in reversed(history[:-1]):
            if len(counted) >= rules.streak or len(taken) >= WINDOW_CAP:
                self.ran_out = False
                break
            if view.position_of(session) != here or taken[-1].performed_at - session.performed_at > gap:
                self.ran_out = False
                break
            taken.append(session)
            if counted[-1].performed_at - session.performed_at >= rest:
                counted.append(session)
        else:
            self.ran_out = len(counted) < rules.streak and len(taken) < WINDOW_CAP
        self.sessions = taken[::-1]
        self.counted = counted


def recent_sessions(view: LadderView, history: Sequence[LoggedSession]) -> list[LoggedSession]:
    """L and every earlier ladder session at most 48 hours before it, at or below its position."""
    latest = history[-1]
    here = view.rank_of(latest)
    return [s for s in history if latest.performed_at - s.performed_at <= RECENT and view.rank_of(s) <= here]


def history_suffices(ladder: Ladder, latest: Sequence[LoggedSession]) -> bool:
    """Whether rules 4 and 6 to 9 read no ladder session older than the oldest of `latest`: the
    ladder's latest sessions, in the rules' order, none left out in between. (Rule 5 reads the 48
    hours up to L; a caller reading less than the whole history reads the sessions of those hours
    whose pain or leg symptoms could make it fire.)"""
    view = view_of(ladder)
    history = [s for s in latest if view.owns(s)]
    rules = view.rules
    if not history or len(history) < max(rules.incomplete_streak, rules.fault_streak):
        return False
    return not Walk(view, history).ran_out
