"""Statements the hot paths run on the driver's own connection on PostgreSQL (`DriverStatement`)."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import psycopg
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler


class DriverStatement:
    """A Core statement that hot paths run on the driver's own connection on PostgreSQL.

    Compiled once per dialect. Its parameters and rows go through its types' own processors,
    as SQLAlchemy would process them (JSON through orjson, timestamps read back in UTC); the
    psycopg connection then executes the compiled SQL (prepared by psycopg after a few runs).
    SQLAlchemy's own work per execution costs about as much as the driver's: its execution
    context, cursor wrapper, result metadata and greenlet hops. On SQLite it runs through
    SQLAlchemy like any statement, where the file's I/O outweighs that work.

    `statement` is the statement, or builds it from a dialect's name (an upsert's SQL differs).
    """

    def __init__(
        self, statement: Executable | Callable[[str], Executable], *, column_keys: Sequence[str] | None = None
    ) -> None:
        self._build = statement if callable(statement) else lambda _dialect: statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._statements: dict[str, Executable] = {}
        self._compiled: dict[int, _Compiled] = {}

    def statement(self, dialect: str) -> Executable:
        """The Core statement for the dialect named `dialect`."""
        if dialect not in self._statements:
            self._statements[dialect] = self._build(dialect)
        return self._statements[dialect]

    async def rows(self, connection: AsyncConnection, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows it returns (every row, as a dict by column name), run in `connection`'s
        transaction. A connection lost, or cut off mid-statement (a deadline's cancellation), is
        invalidated, as SQLAlchemy invalidates its own: closing the transaction then tries no
        ROLLBACK on it, and the deadline's TimeoutError is what the caller sees."""
        dialect = connection.dialect
        if dialect.name != "postgresql":
            found = await connection.execute(self.statement(dialect.name), parameters)
            return [dict(row) for row in found.mappings()] if found.returns_rows else []
        try:
            return await self.run(await connection.get_raw_connection(), dialect, parameters)
        except DBAPIError as error:
            if error.connection_invalidated:
                with anyio.CancelScope(shield=True):
                    await connection.invalidate(error.orig)
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection.invalidate()
            raise

    async def run(
        self, raw: PoolProxiedConnection, dialect: Dialect, parameters: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Run on `raw`, a pooled psycopg connection. A driver error becomes SQLAlchemy's
        (parameters hidden), `connection_invalidated` when the connection was found closed or
        broken; what to do with the connection is the caller's."""
        compiled = self._compiled.get(id(dialect)) or self._compile(dialect)
        values = compiled.fixed | parameters
        for name, process in compiled.binds:
            values[name] = process(values[name])
        driver = raw.driver_connection
        assert driver is not None
        try:
            async with psycopg.AsyncRawCursor(driver) as cursor:
                await cursor.execute(compiled.sql, [values[name] for name in compiled.order])
                found = await cursor.fetchall() if compiled.names else []  # (`description` costs more than the rows)
        except psycopg.Error as error:
            raise DBAPIError.instance(
                compiled.sql,
                values,
                error,
                psycopg.Error,
                hide_parameters=True,
                connection_invalidated=dialect.is_disconnect(error, raw.dbapi_connection, None),  # type: ignore[arg-type]
                dialect=dialect,
            ) from None
        names, processes = compiled.names, compiled.results
        rows = [dict(zip(names, row, strict=True)) for row in found]
        for row in rows if processes else ():
            for name, process in processes:
                row[name] = process(row[name])
        return rows

    def _compile(self, dialect: Dialect) -> "_Compiled":
        statement = self.statement(dialect.name)
        assert isinstance(statement, ClauseElement)  # a SELECT, or an INSERT ... RETURNING
        compiled = statement.compile(dialect=dialect, column_keys=self._column_keys)
        assert isinstance(compiled, SQLCompiler)
        binds = [(name, compiled.binds[name]) for name in compiled.params]  # by the names in the SQL
        columns = getattr(statement, "exported_columns", ())  # a SELECT's, or what it RETURNs
        order: list[str] = []

        def numbered(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:  # an escaped percent sign
                return "%"
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        sql = _PLACEHOLDER.sub(numbered, str(compiled))
        # An expanding IN, or a name the pattern missed, would reach the server as written.
        assert "%(" not in sql and "POSTCOMPILE" not in sql, f"a placeholder left in {sql!r}"
        found = _Compiled(
            # Numbered placeholders, sent as they are (psycopg's raw cursor): psycopg otherwise
            # parses a statement's `%(name)s` placeholders on every run of one over 4 KiB, as the
            # recommendation's read is (a tenth of that route's time).
            sql=sql,
            order=order,
            # The values the statement itself holds (a LIMIT), under the names it compiled to.
            fixed={name: bind.effective_value for name, bind in binds if not bind.required},
            binds=[(name, p) for name, b in binds if (p := b.type.dialect_impl(dialect).bind_processor(dialect))],
            names=[c.name for c in columns],
            results=[
                (c.name, p) for c in columns if (p := c.type.dialect_impl(dialect).result_processor(dialect, None))
            ],
        )
        self._compiled[id(dialect)] = found
        return found


_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    order: list[str]  # the parameters' names, in the order of their numbers in `sql`
    fixed: dict[str, Any]
    binds: list[tuple[str, Callable[[Any], Any]]]
    names: list[str]
    results: list[tuple[str, Callable[[Any], Any]]]
