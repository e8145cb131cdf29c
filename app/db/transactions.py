"""The one transaction runner: a unit of work in one transaction, a statement alone in autocommit,
each within its deadline, so a 2xx always means committed and a stalled database a 503."""

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.deadlines import CANCEL_GRACE_SECONDS, ServerDeadline, time_left
from app.db.engines import STATEMENT_TIMEOUT_SECONDS, WAL_CHECKPOINT
from app.db.statements import DriverStatement

T = TypeVar("T")
_AFTER_COMMIT = "stepwise.after_commit"


def notify_after_commit(connection: AsyncConnection, signal: str) -> None:
    """Have the `Transaction` running `connection`'s transaction call its listeners for
    `signal` once it commits (not if it rolls back)."""
    connection.info.setdefault(_AFTER_COMMIT, set()).add(signal)


class Statements(Protocol):
    """Where a service runs its driver statements: alone (`Transaction.statement`), or in a
    transaction under way (`InTransaction`)."""

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]: ...

    def notify(self, signal: str) -> None:
        """Call `signal`'s listeners once what the statements wrote is committed."""


@dataclass(frozen=True, slots=True)
class InTransaction:
    """Driver statements run in `connection`'s transaction (which commits them)."""

    connection: AsyncConnection

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        return await statement.rows(self.connection, parameters)

    def notify(self, signal: str) -> None:
        notify_after_commit(self.connection, signal)


class Transaction:
    """Runs one unit of work in one database transaction: connect, run, commit (roll back on
    error), all before the response is sent, so a 2xx always means "committed". `work` is an
    async service function taking `connection=` and keyword arguments."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = STATEMENT_TIMEOUT_SECONDS) -> None:
        self.engine = engine
        self._dialect = engine.dialect  # (a property lookup through the async proxy, on every hot statement)
        postgres = self._dialect.name == "postgresql"
        # A PostgreSQL server that stops answering (frozen, partitioned, overloaded) fails the
        # work after `timeout` seconds of it, counted from the connection's checkout (the pool
        # wait has its own timeout). anyio's cancellation is delivered again while psycopg tries
        # to cancel the statement on the server, so psycopg closes the connection at once
        # instead of waiting 10 s on a server that does not answer; the pool replaces it. A
        # client-side deadline, because a server-side `statement_timeout` cannot fire on a
        # server that is not running. SQLite is a local file: its own lock wait (busy_timeout,
        # 5 s) is its timeout.
        self._timeout = timeout if postgres else math.inf
        # On PostgreSQL one statement needs no BEGIN and COMMIT: two round trips of three.
        # (SQLite keeps its transaction: its "begin" hook takes the lock a read needs.)
        self._one_statement = engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else None
        self._cancels: set[asyncio.Task[None]] = set()
        self.waiting = 0  # units of work waiting for a pooled connection (for /metrics)
        # Called after a commit whose work signalled their name (`notify_after_commit`).
        self._listeners: dict[str, list[Callable[[], None]]] = {}

    @property
    def one_statement(self) -> bool:
        """Whether `statement` runs alone, in one round trip (PostgreSQL), not in a transaction."""
        return self._one_statement is not None

    def listen(self, signal: str, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each commit that signalled `signal`; returns what stops it."""
        self._listeners.setdefault(signal, []).append(listener)
        return lambda: self._listeners[signal].remove(listener)

    def notify(self, signal: str) -> None:
        """Call `signal`'s listeners now (its work committed by itself: an autocommit statement)."""
        for listener in self._listeners.get(signal, ()):
            listener()

    async def __call__(self, work: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        signals: set[str] = set()
        async with self._connected(self.engine) as connection:
            try:
                result = await self._committed(connection, work, arguments)
            finally:  # (the info dict outlives the checkout: it is the pooled connection's own)
                with suppress(Exception):  # (a connection invalidated mid-work has none to clear)
                    signals = connection.info.pop(_AFTER_COMMIT, signals)
        for signal in signals:
            self.notify(signal)
        return result

    @asynccontextmanager
    async def _connected(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        """A pooled connection of `engine`, counted in `waiting` until the pool lends one."""
        self.waiting += 1
        try:
            connection = await engine.connect()
        finally:
            self.waiting -= 1
        try:
            yield connection
        finally:
            await asyncio.shield(connection.close())  # as leaving `async with engine.connect()` does

    async def checkpoint(self) -> None:
        """`engines.WAL_CHECKPOINT` on SQLite, after an erasure; nothing on PostgreSQL."""
        if self._dialect.name != "sqlite":
            return
        raw = await self.engine.raw_connection()  # outside any transaction: SQLite checkpoints only there
        try:
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute(WAL_CHECKPOINT)
        finally:
            raw.close()

    def pool_state(self) -> tuple[int, int] | None:
        """(size, in use) of the request path's pool, or None for a pool that keeps no count."""
        pool = self.engine.sync_engine.pool
        size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
        if size is None or checked_out is None:
            return None
        return size(), checked_out()

    async def _committed(
        self, connection: AsyncConnection, work: Callable[..., Awaitable[T]], arguments: dict[str, Any]
    ) -> T:
        async with connection.begin() as transaction:
            with anyio.fail_after(time_left(self._timeout)):
                result = await work(connection=connection, **arguments)
            # The COMMIT has a deadline of its own, not what is left of the work's: cut off by
            # that one, a COMMIT already on its way could still land after the client was told
            # 503. A COMMIT that itself outlasts the timeout (a server frozen at that moment)
            # leaves the outcome unknown, as any timeout must: the 503 then means "retry with the
            # same Idempotency-Key", which answers from the stored result if it did commit.
            with anyio.fail_after(self._timeout, shield=True):
                await transaction.commit()
            return result

    async def autocommit(self, work: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
        """Run `work` outside any explicit transaction on PostgreSQL: each statement commits by
        itself, and answers only once committed. For work that reads, or writes with one
        statement (then, read on: a clash's row), where BEGIN and COMMIT would be two more
        round trips; SQLite runs it in a transaction as usual."""
        if self._one_statement is None:
            return await self(work, **arguments)
        async with self._connected(self._one_statement) as connection:
            with anyio.fail_after(time_left(self._timeout)):
                return await work(connection=connection, **arguments)

    async def statement(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one statement by itself, committed before it answers, on a pooled psycopg
        connection (none of SQLAlchemy's connection and execution layers: about half a hot
        path's database CPU); on SQLite in a transaction as usual.

        On PostgreSQL it runs in autocommit mode: one round trip, no BEGIN and COMMIT. Its
        deadline asks the server to cancel it rather than walking away: a client that stops
        waiting cannot tell whether a write it sent was stored, but a statement cancelled on the
        server was not, and one that completed anyway was. So past the deadline it is a
        TimeoutError only once the server confirms the cancellation; if it completed instead, it
        answers as usual. A server that answers neither within the grace (frozen, or gone) cuts
        it off there, the outcome unknown, as with any COMMIT that a deadline cuts off.

        A connection found lost makes the pool replace every connection (as SQLAlchemy does: a
        restarted server has dropped them all); one left in any other doubtful state (an error,
        a cancellation) is replaced at its next checkout."""
        if self._one_statement is None:
            return await self(statement.rows, parameters=parameters)
        self.waiting += 1
        try:
            raw = await self.engine.raw_connection()
        finally:
            self.waiting -= 1
        driver = raw.driver_connection
        assert driver is not None
        timeout = time_left(self._timeout)
        deadline = ServerDeadline(driver, timeout, self._cancels)
        try:
            await driver.set_autocommit(True)
            with deadline, anyio.fail_after(timeout + CANCEL_GRACE_SECONDS):
                found = await statement.run(raw, self._dialect, parameters)
            if deadline.passed:
                raw.invalidate(soft=True)  # its cancel request may still be on its way
            else:
                await driver.set_autocommit(False)  # as the pool lends it to SQLAlchemy
            return found
        except DBAPIError as error:
            raw.invalidate(soft=True)
            if error.connection_invalidated:
                await self.engine.dispose()  # the idle ones closed, the others dropped as they come back
            if deadline.passed and isinstance(error.orig, psycopg.errors.QueryCanceled):
                raise TimeoutError("the statement was cancelled on the server at its deadline") from error
            raise
        except BaseException:
            raw.invalidate(soft=True)
            raise
        finally:
            raw.close()  # back to the pool
