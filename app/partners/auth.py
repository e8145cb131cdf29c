"""Credentials checked: an API key, or a user token (`app.partners.tokens`), -> the caller
behind it (`app.dependencies.identify` reads `Authorization: Bearer <credential>` and asks here).

Checked keys are kept in memory for a few seconds (`key_cache_seconds`), so the hot paths never
wait on the database, while a key revoked anywhere stops working on every replica within that
time. A key seen for the first time is always looked up, so a new key works at once. The cache
holds the most recently used keys (an LRU), so a flood of made-up keys evicts the least used
entries, never the whole cache.

A user token is checked by its signature (once; the claims are kept in an LRU) and its expiry
(every time), and then by the key that minted it, which is looked up and cached exactly as a
key is: revoking the key stops its tokens within the same `key_cache_seconds`.

While the database cannot be reached (its connection refused or dropped: not merely slow, as
a pool or statement timeout is), a key found valid within `key_stale_seconds` keeps working
(stale-if-error), so the answers that need no database (the catalogue, evaluate) go on; a key
never seen, or found invalid, gets the 503. Once the database answers again, every key is
checked again after `key_cache_seconds`, so revocation keeps its promise whenever it can be
known.
"""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from cachetools import LRUCache

from app.callers import Caller
from app.db.transactions import Transaction
from app.http_errors import database_unreachable
from app.partners.service import find_caller, find_caller_by_key_id, hash_key
from app.partners.tokens import (
    ExpiredToken,
    InvalidToken,
    RevokedToken,
    TokenClaims,
    TokenSigner,
    expired,
    looks_like_token,
)

MAX_ENTRIES = 50_000
# User tokens whose signature was checked, by the token itself (a token is about 300 bytes).
MAX_TOKENS = 20_000
# After a failed lookup, keys with a stale entry skip the database for this long, so an outage
# does not cost every request a connection attempt.
RETRY_LOOKUP_AFTER_SECONDS = 1.0


def _minting_key(key_id: int) -> str:
    """The cache entry of a user token's minting key (API keys' entries are hex digests)."""
    return f"key-id:{key_id}"


class KeyStore:
    """Credentials checked: API keys, and user tokens with the key that minted them."""

    def __init__(
        self,
        transaction: Transaction,
        *,
        ttl: float,
        stale_limit: float = 0.0,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenSigner | None = None,
    ) -> None:
        self._transaction = transaction
        self._ttl = ttl
        self._stale_limit = stale_limit
        self._clock = clock
        self.tokens = tokens or TokenSigner()
        # key hash (or minting key id) -> (caller or None when not valid, when it was checked)
        self._entries: LRUCache[str, tuple[Caller | None, float]] = LRUCache(maxsize=max_entries)
        self._claims: LRUCache[str, TokenClaims] = LRUCache(maxsize=MAX_TOKENS)
        self._unreachable_until = -math.inf
        self._pending: dict[str, asyncio.Future[Caller | None]] = {}  # lookups under way, by entry

    def size(self) -> int:
        return len(self._entries)

    def known_valid(self, credential: str) -> bool:
        """Whether `credential` is no guess: a key found valid within the stale limit (the
        cache time at least), or a token this deployment signed."""
        if looks_like_token(credential):  # (no judging one before the signing secret is loaded)
            return self.tokens.secret is None or self._claims_of(credential) is not None
        entry = self._entries.get(hash_key(credential))
        return (
            entry is not None and entry[0] is not None and self._clock() - entry[1] < max(self._ttl, self._stale_limit)
        )

    def cached(self, credential: str) -> Caller | None:
        """The caller for `credential` if it was checked recently and is valid (for a token: its
        signature, its expiry and its minting key); never touches the database."""
        if looks_like_token(credential):
            if self.tokens.secret is None:
                return None
            claims = self._claims_of(credential)
            if claims is None or expired(claims):
                return None
            key = self._fresh(_minting_key(claims.key_id))
            return None if key is None else claims.for_key(key)
        return self._fresh(hash_key(credential))

    async def authenticate(self, credential: str) -> Caller | None:
        """The caller for `credential`, or None when it is an unknown or revoked key or a forged
        token; an authentic token that expired, or whose key was revoked, raises ExpiredToken
        or RevokedToken (its partner is known)."""
        if looks_like_token(credential):
            claims = self._claims_of(credential)
            if claims is None:
                return None
            if expired(claims):
                raise ExpiredToken(claims.partner_id)
            key = await self._lookup(
                _minting_key(claims.key_id),
                lambda: self._transaction.autocommit(find_caller_by_key_id, key_id=claims.key_id),
            )
            caller = None if key is None else claims.for_key(key)
            if caller is None:
                raise RevokedToken(claims.partner_id)
            return caller
        digest = hash_key(credential)
        return await self._lookup(digest, lambda: self._transaction.autocommit(find_caller, key_hash=digest))

    def _claims_of(self, token: str) -> TokenClaims | None:
        claims = self._claims.get(token)
        if claims is None:
            try:
                claims = self._claims[token] = self.tokens.verify(token)
            except InvalidToken:  # forged or garbled: not kept, so a flood of them evicts nothing
                return None
        return claims

    def _fresh(self, entry_key: str) -> Caller | None:
        entry = self._entries.get(entry_key)
        return entry[0] if entry is not None and self._clock() - entry[1] < self._ttl else None

    def _stale(self, entry: tuple[Caller | None, float] | None, now: float) -> Caller | None:
        if entry is None or entry[0] is None or now - entry[1] >= self._stale_limit:
            return None
        return entry[0]

    async def _lookup(self, entry_key: str, fetch: Callable[[], Awaitable[Caller | None]]) -> Caller | None:
        now = self._clock()
        entry = self._entries.get(entry_key)
        if entry is not None and now - entry[1] < self._ttl:
            return entry[0]
        if now < self._unreachable_until and (stale := self._stale(entry, now)) is not None:
            return stale
        # One lookup per credential at a time: when an entry expires under load, every request
        # in flight with it waits for the same lookup (measured: 32 concurrent lookups on the
        # embedded default stalled a busy key's requests for tens of milliseconds every
        # `key_cache_seconds`). Shielded, so a waiter that goes away cancels no one's lookup.
        pending = self._pending.get(entry_key)
        if pending is None:
            pending = self._pending[entry_key] = asyncio.ensure_future(self._fetch(entry_key, fetch, entry, now))
            pending.add_done_callback(lambda _: self._pending.pop(entry_key, None))
        return await asyncio.shield(pending)

    async def _fetch(
        self,
        entry_key: str,
        fetch: Callable[[], Awaitable[Caller | None]],
        entry: tuple[Caller | None, float] | None,
        now: float,
    ) -> Caller | None:
        try:
            caller = await fetch()
        except Exception as error:
            if not database_unreachable(error):
                raise
            self._unreachable_until = now + RETRY_LOOKUP_AFTER_SECONDS
            stale = self._stale(entry, now)
            if stale is None:
                raise
            return stale
        self._entries[entry_key] = (caller, now)
        return caller
