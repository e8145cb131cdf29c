"""API-key authentication: `Authorization: Bearer <key>` -> the partner and scopes behind it.

Checked keys are kept in memory for a few seconds (`key_cache_seconds`), so the hot paths never
wait on the database, while a key revoked anywhere stops working on every replica within that
time. A key seen for the first time is always looked up, so a new key works at once.
"""

import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from app.errors import Forbidden, Unauthorized
from app.partners.service import Caller, find_caller, hash_key

_MAX_ENTRIES = 50_000


class KeyStore:
    def __init__(self, engine: Engine, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
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
        caller = await anyio.to_thread.run_sync(self._lookup, digest)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (caller, now)
        return caller

    def _lookup(self, digest: str) -> Caller | None:
        with Session(self._engine) as session:
            return find_caller(session=session, key_hash=digest)


_bearer = HTTPBearer(auto_error=False, description="A partner API key: `Authorization: Bearer sw_...`")


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    async def authorised_caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise Unauthorized(
                "An API key is required: send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = await request.app.state.keys.authenticate(credentials.credentials)
        if caller is None:
            raise Unauthorized(
                "The API key is unknown or revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope not in caller.scopes:
            raise Forbidden(
                f"The API key lacks the scope {scope!r}.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return caller

    return authorised_caller
