"""API keys checked: a key -> the partner and scopes behind it (`app.dependencies.require_scope`
reads `Authorization: Bearer <key>` and asks here).

Checked keys are kept in memory for a few seconds (`key_cache_seconds`), so the hot paths never
wait on the database, while a key revoked anywhere stops working on every replica within that
time. A key seen for the first time is always looked up, so a new key works at once. The cache
holds the most recently used keys (an LRU), so a flood of made-up keys evicts the least used
entries, never the whole cache.

While the database cannot be reached (its connection refused or dropped: not merely slow, as
a pool or statement timeout is), a key found valid within `key_stale_seconds` keeps working
(stale-if-error), so the answers that need no database (the catalogue, evaluate) go on; a key
never seen, or found invalid, gets the 503. Once the database answers again, every key is
checked again after `key_cache_seconds`, so revocation keeps its promise whenever it can be
known.
"""

import math
import time
from collections.abc import Callable

from cachetools import LRUCache

from app.db import Transaction
from app.errors import database_unreachable
from app.partners.service import Caller, find_caller, hash_key

MAX_ENTRIES = 50_000
# After a failed lookup, keys with a stale entry skip the database for this long, so an outage
# does not cost every request a connection attempt.
RETRY_LOOKUP_AFTER_SECONDS = 1.0


class KeyStore:
    def __init__(
        self,
        transaction: Transaction,
        *,
        ttl: float,
        stale_limit: float = 0.0,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transaction = transaction
        self._ttl = ttl
        self._stale_limit = stale_limit
        self._clock = clock
        # key hash -> (caller or None when not valid, when it was checked)
        self._entries: LRUCache[str, tuple[Caller | None, float]] = LRUCache(maxsize=max_entries)
        self._unreachable_until = -math.inf

    def size(self) -> int:
        return len(self._entries)

    def known_valid(self, key: str) -> bool:
        """Whether `key` was found valid within the stale limit (the cache time at least)."""
        entry = self._entries.get(hash_key(key))
        return (
            entry is not None and entry[0] is not None and self._clock() - entry[1] < max(self._ttl, self._stale_limit)
        )

    def cached(self, key: str) -> Caller | None:
        """The caller for `key` if it was checked recently and is valid; never touches the database."""
        entry = self._entries.get(hash_key(key))
        return entry[0] if entry is not None and self._clock() - entry[1] < self._ttl else None

    def _stale(self, entry: tuple[Caller | None, float] | None, now: float) -> Caller | None:
        if entry is None or entry[0] is None or now - entry[1] >= self._stale_limit:
            return None
        return entry[0]

    async def authenticate(self, key: str) -> Caller | None:
        digest, now = hash_key(key), self._clock()
        entry = self._entries.get(digest)
        if entry is not None and now - entry[1] < self._ttl:
            return entry[0]
        if now < self._unreachable_until and (stale := self._stale(entry, now)) is not None:
            return stale
        try:
            caller = await self._transaction.read(find_caller, key_hash=digest)
        except Exception as error:
            if not database_unreachable(error):
                raise
            self._unreachable_until = now + RETRY_LOOKUP_AFTER_SECONDS
            stale = self._stale(entry, now)
            if stale is None:
                raise
            return stale
        self._entries[digest] = (caller, now)
        return caller
