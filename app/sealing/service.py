"""Users' keys in a request's transaction: read (to open what was sealed), made when a user's
first text is stored (to seal it), and deleted with the user.

A key made or read for writing is locked (`FOR SHARE`, on PostgreSQL) until the writing
transaction ends. An erasure deletes the key first, so it waits for every write still sealing
under it; its later deletes (one snapshot each) then see those writes' rows. A write that
comes after the erasure makes a new key. So no row is ever left sealed under a deleted key.
SQLite runs one writing transaction at a time.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, delete, func, or_, select, tuple_, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db.secrets import DeploymentSecret, stored_secret
from app.db.types import insert_skipping_conflicts
from app.errors import Unavailable
from app.sealing import crypto
from app.sealing.crypto import DataKeys, Unreadable
from app.sealing.tables import UserKey

DATA_KEY_NAME = "user-key-wrapping"
_DATA_KEYS: dict[tuple[str, str | None, int | None, str | None], DataKeys] = {}


def _database(url: URL) -> tuple[str, str | None, int | None, str | None]:
    return url.get_backend_name(), url.host, url.port, url.database


def load_data_keys(connection: Connection, configured: str | None) -> DataKeys:
    """STEPWISE_DATA_KEY's keys when set (the first wraps), else the deployment's own, made on
    its first start; with either, the one the deployment made, while it is kept, unwraps what
    it wrapped. Remembered for the requests to this connection's database."""
    keys = [crypto.parse_key(item) for item in (configured or "").split(",") if item.strip()]
    stored = stored_data_key(connection)
    if not keys and stored is None:
        stored = stored_secret(connection, DATA_KEY_NAME, random_bytes=crypto.KEY_BYTES)
    if stored is not None:
        keys.append(crypto.parse_key(stored))
    loaded = DataKeys(keys)
    _DATA_KEYS[_database(connection.engine.url)] = loaded
    return loaded


def stored_data_key(connection: Connection) -> str | None:
    """The data key the deployment made for itself and keeps in its database, if it has one."""
    found = select(col(DeploymentSecret.value)).where(col(DeploymentSecret.name) == DATA_KEY_NAME)
    return connection.execute(found).scalar_one_or_none()


def _data_keys(connection: AsyncConnection) -> DataKeys:
    loaded = _DATA_KEYS.get(_database(connection.engine.url))
    if loaded is None:  # the database could not be reached at start-up; loaded by a later refresh
        raise Unavailable("The service is still starting (its data key is not loaded yet); retry shortly.")
    return loaded


@dataclass(frozen=True, slots=True)
class UserKeys:
    """Some users' keys, for sealing and opening their text (values of one partner's rows), and
    each key as stored (wrapped), which names it."""

    partner_id: int
    keys: Mapping[str, bytes]
    wrapped: Mapping[str, str] = field(default_factory=dict)

    def seal(self, user_id: str, text: str | None) -> str | None:
        if text is None:
            return None
        return crypto.seal_text(self.keys[user_id], text, partner_id=self.partner_id, user_id=user_id)

    def open(self, user_id: str, value: str | None) -> str | None:
        """The text of a stored value: opened when sealed, as stored when kept in clear."""
        if not crypto.is_sealed(value):
            return value
        assert value is not None
        key = self.keys.get(user_id)
        if key is None:
            raise Unreadable(f"no key for the user of a sealed value (partner {self.partner_id})")
        return crypto.open_text(key, value, partner_id=self.partner_id, user_id=user_id)

    def seal_answer(self, body: str, users: Iterable[str]) -> str:
        """A stored answer holding `users`' text, sealed (as it is when it holds none)."""
        holding = {user: self.keys[user] for user in users}
        return crypto.seal_answer(holding, body, partner_id=self.partner_id) if holding else body


# Keys read lately, by database, partner and user, as (wrapped, key): a single post's notes are
# sealed under the one found here in the statement that checks it is still the user's
# (`app.sessions.bulk.INSERT_ONE_SEALED`), one round trip instead of a transaction.
_KNOWN: LRUCache[tuple[object, int, str], tuple[str, bytes]] = LRUCache(maxsize=10_000)


def known_keys(url: URL, partner_id: int, user_id: str) -> UserKeys | None:
    """The user's key as read lately on this database (checked when used), or None."""
    found = _KNOWN.get((_database(url), partner_id, user_id))
    if found is None:
        return None
    return UserKeys(partner_id, {user_id: found[1]}, {user_id: found[0]})


def forget_known(url: URL, partner_id: int, user_id: str) -> None:
    _KNOWN.pop((_database(url), partner_id, user_id), None)


async def _read(connection: AsyncConnection, partner_id: int, user_ids: Collection[str], *, lock: bool) -> UserKeys:
    query = select(col(UserKey.user_id), col(UserKey.wrapped)).where(
        col(UserKey.partner_id) == partner_id, col(UserKey.user_id).in_(sorted(user_ids))
    )
    if lock:
        query = query.with_for_update(read=True)  # FOR SHARE on PostgreSQL; SQLite has no such clause
    data, database = _data_keys(connection), _database(connection.engine.url)
    wrapped: dict[str, str] = {user: value for user, value in (await connection.execute(query)).all()}
    keys = {user: data.unwrap(value, partner_id=partner_id, user_id=user) for user, value in wrapped.items()}
    for user, key in keys.items():
        _KNOWN[database, partner_id, user] = (wrapped[user], key)
    return UserKeys(partner_id, keys, wrapped)


async def for_reading(connection: AsyncConnection, partner_id: int, user_ids: Collection[str]) -> UserKeys:
    """The keys these users have (none for a user with no text stored)."""
    return await _read(connection, partner_id, user_ids, lock=False) if user_ids else UserKeys(partner_id, {})


async def for_writing(connection: AsyncConnection, partner_id: int, user_ids: Collection[str]) -> UserKeys:
    """These users' keys, made for any without one, held until the transaction ends."""
    if not user_ids:
        return UserKeys(partner_id, {})
    found = await _read(connection, partner_id, user_ids, lock=True)
    missing = set(user_ids) - found.keys.keys()
    if missing:
        data, now = _data_keys(connection), datetime.now(UTC)
        made = [
            {
                "partner_id": partner_id,
                "user_id": user,
                "wrapped": data.wrap(crypto.new_user_key(), partner_id=partner_id, user_id=user),
                "created_at": now,
            }
            for user in sorted(missing)
        ]
        table = UserKey.__table__  # type: ignore[attr-defined]
        await connection.execute(
            insert_skipping_conflicts(connection.dialect.name, table, ["partner_id", "user_id"]), made
        )
        made_now = await _read(connection, partner_id, missing, lock=True)  # ours, or a racer's made first
        return UserKeys(partner_id, {**found.keys, **made_now.keys}, {**found.wrapped, **made_now.wrapped})
    return found


async def opened(connection: AsyncConnection, partner_id: int, rows: Iterable[Any], field: str) -> list[dict[str, Any]]:
    """`rows` (one partner's mappings, each with a `user_id`) as dicts, with `field` opened."""
    found = [dict(row) for row in rows]
    sealed = {row["user_id"] for row in found if crypto.is_sealed(row[field])}
    if sealed:
        keys = await for_reading(connection, partner_id, sealed)
        for row in found:
            row[field] = keys.open(row["user_id"], row[field])
    return found


async def open_answer(connection: AsyncConnection, partner_id: int, stored: str) -> str:
    """A stored answer's body, opened when it was sealed."""
    users = crypto.answer_users(stored)
    if users is None:
        return stored
    keys = await for_reading(connection, partner_id, users)
    return crypto.open_answer(keys.keys, stored, partner_id=partner_id)


async def forget(connection: AsyncConnection, partner_id: int, user_id: str) -> None:
    """Delete the user's key: whatever of their sealed text any copy still holds is unreadable."""
    forget_known(connection.engine.url, partner_id, user_id)
    await connection.execute(
        delete(UserKey).where(col(UserKey.partner_id) == partner_id, col(UserKey.user_id) == user_id)
    )


def rewrap(engine: Engine, configured: str, *, batch: int = 1000) -> tuple[int, int, int, bool]:
    """Wrap every user's key under the first of `configured` (STEPWISE_DATA_KEY) that another
    data key wraps, a batch per transaction; then delete the data key the deployment made for
    itself, if it kept one and no key is wrapped by it any more (a replica still running without
    STEPWISE_DATA_KEY may have made one meanwhile: run again once none does). Returns (keys
    rewrapped, keys in all, keys still wrapped by an older data key, whether it deleted the
    deployment's). Unreadable names a data key that STEPWISE_DATA_KEY does not list."""
    with engine.begin() as connection:
        data = load_data_keys(connection, configured)
    rewrapped = total = 0
    after: tuple[int, str] = (-1, "")
    table = UserKey.__table__  # type: ignore[attr-defined]
    while True:
        with engine.begin() as connection:
            order = (table.c.partner_id, table.c.user_id)
            rows = connection.execute(
                select(*order, table.c.wrapped).where(tuple_(*order) > after).order_by(*order).limit(batch)
            ).all()
            if not rows:
                break
            total += len(rows)
            for partner_id, user_id, wrapped in rows:
                if data.wrapped_by_current(wrapped):
                    continue
                user_key = data.unwrap(wrapped, partner_id=partner_id, user_id=user_id)
                mine = (table.c.partner_id == partner_id, table.c.user_id == user_id, table.c.wrapped == wrapped)
                again = data.wrap(user_key, partner_id=partner_id, user_id=user_id)
                rewrapped += connection.execute(update(table).where(*mine).values(wrapped=again)).rowcount
            after = (rows[-1][0], rows[-1][1])
    with engine.begin() as connection:
        old = [key for key in data.fingerprints if key != data.current]
        left = (
            connection.execute(
                select(func.count()).where(or_(*(table.c.wrapped.startswith(f"{fingerprint}.") for fingerprint in old)))
            ).scalar_one()
            if old
            else 0
        )
        if left:
            return rewrapped, total, left, False
        forgot = connection.execute(delete(DeploymentSecret).where(col(DeploymentSecret.name) == DATA_KEY_NAME))
    return rewrapped, total, 0, bool(forgot.rowcount)
