"""A statement's deadline on the server: past it, the server is asked to cancel the statement
rather than the client walking away (a client cannot tell whether a write it stopped waiting
for was stored; a statement the server cancelled was not)."""

import asyncio
import logging
import time
from contextvars import ContextVar

import psycopg

logger = logging.getLogger("stepwise")

# How long a statement alone waits, past its deadline, for the server to confirm its cancellation.
CANCEL_GRACE_SECONDS = 1.0


class RequestDeadline:
    """One database deadline for a whole request: the statement timeout, counted from the
    request's first database work (its key's check, say), so that two pieces of work in a row
    on a stalled database wait one timeout in total, not one each."""

    __slots__ = ("_ends",)

    def __init__(self) -> None:
        self._ends: float | None = None

    def left(self, timeout: float) -> float:
        now = time.monotonic()
        if self._ends is None:
            self._ends = now + timeout
        return max(0.0, self._ends - now)


_request_deadline: ContextVar[RequestDeadline | None] = ContextVar("stepwise_request_deadline", default=None)


def one_deadline_per_request() -> None:
    """Called as a request begins (in its own task and context): its database work from now on
    shares one deadline. Work outside a request (periodic jobs) has one per unit of work."""
    _request_deadline.set(RequestDeadline())


def time_left(timeout: float) -> float:
    """How long the work about to start may take: `timeout`, or what is left of the request's."""
    deadline = _request_deadline.get()
    return timeout if deadline is None or timeout == float("inf") else deadline.left(timeout)


class ServerDeadline:
    """Within it, `seconds` after it was entered, asks the server to cancel what `driver` is
    running: a timer, not a task, until then (a few microseconds). The cancel request runs as a
    task of its own, held in `tasks` until done, since the event loop keeps only weak
    references to tasks. `passed` tells afterwards whether it was sent."""

    __slots__ = ("_driver", "_seconds", "_tasks", "_timer", "passed")

    def __init__(self, driver: psycopg.AsyncConnection, seconds: float, tasks: set[asyncio.Task[None]]) -> None:
        self._driver, self._seconds, self._tasks, self.passed = driver, seconds, tasks, False

    def __enter__(self) -> "ServerDeadline":
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._cancel)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def _cancel(self) -> None:
        self.passed = True
        task = asyncio.ensure_future(cancel_on_server(self._driver))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def cancel_on_server(driver: psycopg.AsyncConnection) -> None:
    try:
        await driver.cancel_safe(timeout=CANCEL_GRACE_SECONDS)
    except Exception as error:  # the statement's own wait reports what follows
        logger.warning("could not ask the database to cancel a statement past its deadline: %s", type(error).__name__)
