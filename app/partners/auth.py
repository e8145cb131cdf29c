"""API keys checked: a key -> the partner and scopes behind it (`app.dependencies.require_scope`
reads `Authorization: Bearer <key>` and asks here).

Checked keys are kept in memory for a few seconds (`key_cache_seconds`), so the hot paths never
wait on the database, while a key revoked anywhere stops working on every replica within that
time. A key seen for the first time is always looked up, so a new key works at once.
"""

import time
from collections.abc import Callable

from app.db import Transaction
from app.partners.service import Caller, find_caller, hash_key

_MAX_ENTRIES = 50_000


class KeyStore:
    def __init__(self, transaction: Transaction, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._transaction = transaction
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[Caller | None, float]] = {}

    def size(self) -> int:
        return len(self._entries)

    def _recent(self, digest: str, now: float) -> tuple[Caller | None] | None:
        """(caller,) when `digest` was checked within the cache time (caller None: not valid)."""
        entry = self._entries.get(digest)
        return (entry[0],) if entry is not None and now - entry[1] < self._ttl else None

    def cached(self, key: str) -> Caller | None:
        """The caller for `key` if it was checked recently and is valid; never touches the database."""
        recent = self._recent(hash_key(key), self._clock())
        return recent[0] if recent else None

    async def authenticate(self, key: str) -> Caller | None:
        digest, now = hash_key(key), self._clock()
        recent = self._recent(digest, now)
        if recent:
            return recent[0]
        caller = await self._transaction.read(find_caller, key_hash=digest)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (caller, now)
        return caller
