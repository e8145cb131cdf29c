"""Removing a partner for good (`stepwise partners delete`): every user's data, its content,
webhook endpoints, keys and origins, then the partner itself.

The users' data can be millions of rows, so it goes in batches, one transaction each: no lock
is held long, replicas keep serving the other partners, and an interruption loses nothing but
time. The partner is disabled first (`service.set_disabled`: its keys and tokens refused within
the key cache time), so nothing new arrives while it goes, and it is deleted last, so running
the command again resumes where it stopped."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, delete, func, select
from sqlmodel import SQLModel, col

from app.clearances.tables import ClearanceRow
from app.db.engines import checkpoint
from app.idempotency.tables import IdempotencyRecord
from app.partners.tables import Partner
from app.progress.tables import OutcomeRow
from app.sealing.tables import UserKey
from app.sessions.tables import SessionRow
from app.webhooks.tables import WebhookMessage

BATCH_ROWS = 1000


@dataclass(frozen=True)
class _Rows:
    """Rows of one table that belong to a partner, deleted by the column that names one row
    (`identity`; rows that hang off it, such as an idempotency record's users or a webhook
    message's deliveries, go with it by their foreign keys' ON DELETE CASCADE)."""

    label: str
    model: type[SQLModel]
    identity: str

    @property
    def _table(self) -> Table:
        return self.model.__table__  # type: ignore[attr-defined]

    def count(self, connection: Connection, partner_id: int) -> int:
        table = self._table
        return connection.execute(select(func.count()).where(table.c.partner_id == partner_id)).scalar_one()

    def delete_batch(self, connection: Connection, partner_id: int, size: int) -> int:
        table = self._table
        mine = table.c.partner_id == partner_id
        batch = select(table.c[self.identity]).where(mine).limit(size).scalar_subquery()
        return connection.execute(delete(table).where(mine, table.c[self.identity].in_(batch))).rowcount


USER_DATA = (
    _Rows("user keys", UserKey, "user_id"),  # first: the sealed notes are unreadable from here on
    _Rows("sessions", SessionRow, "seq"),
    _Rows("clearances", ClearanceRow, "id"),
    _Rows("outcome scores", OutcomeRow, "id"),
    _Rows("stored answers", IdempotencyRecord, "key"),
    _Rows("webhook messages", WebhookMessage, "id"),
)


def find(engine: Engine, name: str) -> int | None:
    """The partner's id, or None if there is none of that name (or no longer)."""
    with engine.connect() as connection:
        return connection.execute(select(col(Partner.id)).where(col(Partner.name) == name)).scalar_one_or_none()


def rows_left(engine: Engine, partner_id: int) -> dict[str, int]:
    """How many rows of each kind of user data the partner still has."""
    with engine.connect() as connection:
        return {rows.label: rows.count(connection, partner_id) for rows in USER_DATA}


def delete_user_data(
    engine: Engine, partner_id: int, *, batch: int = BATCH_ROWS, done: Callable[[int], object] = lambda n: None
) -> Iterator[str]:
    """Delete the partner's user data in transactions of at most `batch` rows, calling `done`
    with each batch's count; yields each kind's label once it is all gone."""
    for rows in USER_DATA:
        while True:
            with engine.begin() as connection:
                deleted = rows.delete_batch(connection, partner_id, batch)
            done(deleted)
            if deleted < batch:
                break
        yield rows.label


def delete_partner(engine: Engine, partner_id: int) -> None:
    """The partner itself, with what is left: its content, endpoints, keys and origins (ON DELETE
    CASCADE). Last, so that until then the command can be run again to resume."""
    with engine.begin() as connection:
        table = Partner.__table__  # type: ignore[attr-defined]
        connection.execute(table.delete().where(table.c.id == partner_id))
    checkpoint(engine)  # nor left in SQLite's write-ahead log
