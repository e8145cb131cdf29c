"""Rate limits (the `limits` library): a quota per partner, and a budget of failed
authentications per client address.

- Every request made with a key is charged to its partner: 1, and `evaluate` 1 more per
  `EVALUATE_SESSIONS_PER_UNIT` sessions it sends. The quota is the partner's own
  (`stepwise partners set-rate-limit`) or `STEPWISE_RATE_LIMIT_PER_MINUTE`.
- A client address whose requests failed authentication `STEPWISE_AUTH_FAILURES_PER_MINUTE`
  times is refused before any key it sends is looked up, until the minute has passed.
- A refused request gets 429 problem+json with `Retry-After` and the `RateLimit-Policy` and
  `RateLimit` fields of the IETF httpapi draft (structured fields: `"partner";q=600;w=60`,
  `"partner";r=0;t=12`).

Counts live in memory by default (one budget per replica; with `--workers N`, each worker
enforces a Nth of it), or in Redis when `REDIS_URL` is set, so every replica and worker draws on
one budget. Windows are sliding-window counters: one round trip to Redis per batch of requests.

Redis is never waited on for long: a call gets `REDIS_TIMEOUT_SECONDS` (50 ms) and no retry
(but one, at once, when its pooled connection turns out lost), and one that fails or times out
(a dead or a hung server) sends every call for
`REDIS_BREAK_SECONDS` to the in-memory limiter instead (a circuit breaker), where each quota
and budget is divided among the processes that share it (`STEPWISE_REPLICAS` × workers). Quotas
are never switched off; a warning is logged, at most every 10 s.
"""

import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import anyio
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.retry import ConstantRetryPolicy
from limits import RateLimitItem, RateLimitItemPerMinute
from limits import strategies as in_memory
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import MemoryStorage, storage_from_string
from limits.util import WindowStats
from starlette.types import Scope

from app.callers import Caller
from app.errors import DomainError

logger = logging.getLogger("stepwise")

EVALUATE_SESSIONS_PER_UNIT = 100
REDIS_TIMEOUT_SECONDS = 0.05
# Opening a connection (the pool opens several at once when a burst starts) gets longer; a
# server that accepts and then hangs is caught by the 50 ms of the call itself.
REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
REDIS_BREAK_SECONDS = 5.0
# A partner's requests go to the limiter in batches of quota // _BATCH_DIVISOR, at least every
# _FLUSH_SECONDS.
_BATCH_DIVISOR = 1000
_FLUSH_SECONDS = 0.1
_WINDOW_SECONDS = 60
_WARN_EVERY_SECONDS = 10.0


class Quota(NamedTuple):
    """A partner's request quota as an answer reports it (the IETF httpapi rate-limit headers
    draft): `RateLimit-Policy: "partner";q=6000;w=60` and `RateLimit: "partner";r=5971;t=42`."""

    limit: int  # requests per window
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-policy", f'"partner";q={self.limit};w={_WINDOW_SECONDS}'.encode()),
            (b"ratelimit", f'"partner";r={self.remaining};t={self.reset_seconds}'.encode()),
        ]


class RateLimited(DomainError, status=429, problem_type="rate-limited"):
    pass


def redis_storage_uri(redis_url: str) -> str:
    """`redis://...` (or `rediss://`, `redis+unix://`) as the async storage URI of `limits`."""
    return redis_url if redis_url.startswith("async+") else "async+" + redis_url


def client_address(scope: Scope) -> str:
    """The client's address (uvicorn puts the proxy's `X-Forwarded-For` there when it trusts
    the proxy: `FORWARDED_ALLOW_IPS`)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class _MemoryStorage(MemoryStorage):
    """`limits`' in-memory storage, sweeping expired counts at most once a second. The library
    starts a sweeping thread 10 ms after any hit when none runs, so under load a thread start
    every few requests: measured at 8% of a recommendation's CPU (GIL hand-offs), against under
    1% this way. Counts are still checked for expiry on every read."""

    _SWEEP_EVERY_SECONDS = 1.0

    def __init__(self) -> None:
        self._next_sweep = 0.0
        super().__init__()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's (name-mangled) hook
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self._SWEEP_EVERY_SECONDS
            super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class _Limiter(Protocol):
    """The three calls of `limits`' asyncio limiter this module makes."""

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool: ...
    async def test(self, item: RateLimitItem, *identifiers: str) -> bool: ...
    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


class _InMemory:
    """`limits`' synchronous in-memory limiter behind the asyncio calls: a few microseconds and
    no await (its asyncio in-memory storage starts an expiry task on every hit, measured at a
    tenth of a recommendation's CPU)."""

    def __init__(self) -> None:
        self._limiter = in_memory.SlidingWindowCounterRateLimiter(_MemoryStorage())

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return self._limiter.hit(item, *identifiers, cost=cost)

    async def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._limiter.test(item, *identifiers)

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        return self._limiter.get_window_stats(item, *identifiers)


class _Failover:
    """Redis behind a circuit breaker: while it is down (a call failed or timed out less than
    `REDIS_BREAK_SECONDS` ago) calls go to an in-memory limiter, with each quota divided by
    `share`, so a partner's requests are still counted, at its share of the quota."""

    def __init__(self, shared: _Limiter, *, share: int, warn: Callable[[Exception], None]) -> None:
        self._shared = shared
        self._local = _InMemory()
        self._share = share
        self._warn = warn
        self._down_until = -math.inf
        self._scaled: dict[int, RateLimitItem] = {}

    def _local_item(self, item: RateLimitItem) -> RateLimitItem:
        scaled = self._scaled.get(item.amount)
        if scaled is None:
            scaled = self._scaled[item.amount] = RateLimitItemPerMinute(max(1, item.amount // self._share))
        return scaled

    async def _call(self, call: str, item: RateLimitItem, identifiers: tuple[str, ...], **options: int) -> Any:
        if time.monotonic() >= self._down_until:
            try:
                # The client's own timeout is REDIS_TIMEOUT_SECONDS; this bounds anything else.
                with anyio.fail_after(3 * REDIS_TIMEOUT_SECONDS):
                    return await getattr(self._shared, call)(item, *identifiers, **options)
            except Exception as error:
                self._down_until = time.monotonic() + REDIS_BREAK_SECONDS
                self._warn(error)
        return await getattr(self._local, call)(self._local_item(item), *identifiers, **options)

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return bool(await self._call("hit", item, identifiers, cost=cost))

    async def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return bool(await self._call("test", item, identifiers))

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        stats: WindowStats = await self._call("get_window_stats", item, identifiers)
        return stats


class RateLimits:
    def __init__(
        self,
        *,
        per_minute: int,
        auth_failures_per_minute: int,
        redis_url: str | None = None,
        share: int = 1,
        replicas: int = 1,
    ) -> None:
        """`share`: how many processes of this replica draw on the quotas (its workers);
        `replicas`: how many replicas share `redis_url`. With Redis they all draw on one count;
        without it (none set, or down), each process enforces its share of every quota."""
        self._default = per_minute
        self._share = 1 if redis_url else share
        self._auth_failures = RateLimitItemPerMinute(self._portion(auth_failures_per_minute))
        self._items: dict[int, RateLimitItem] = {}
        self._warned_at = -math.inf
        self._limiter: _Limiter = _InMemory()
        if redis_url:
            try:
                shared = storage_from_string(
                    redis_storage_uri(redis_url),
                    wrap_exceptions=True,
                    key_prefix="stepwise",
                    connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
                    stream_timeout=REDIS_TIMEOUT_SECONDS,
                    # Once, at once, a command whose connection was lost (coredis drops a pooled
                    # connection now and then under load); never one that timed out.
                    retry_policy=ConstantRetryPolicy((RedisConnectionError,), 1, 0),  # type: ignore[arg-type]
                )
            except Exception:  # its message quotes the URL, password and all
                raise ValueError(
                    "REDIS_URL could not be used; check its form: redis://[:password@]host:port/db"
                ) from None
            assert isinstance(shared, Storage), "an async+ URI gives an asyncio storage"
            self._limiter = _Failover(
                SlidingWindowCounterRateLimiter(shared), share=share * replicas, warn=self._storage_failed
            )
        # Per partner: requests counted here and not yet given to the limiter; when they last
        # were; and, while refused, until when and with which answer.
        self._pending: dict[int, int] = {}
        self._flushed_at: dict[int, float] = {}
        self._refused: dict[int, tuple[float, RateLimited]] = {}
        # Per partner, as of its last batch handed to the limiter: what was left of the quota,
        # and when the window resets (Unix time); for the RateLimit header of every answer.
        self._windows: dict[int, tuple[int, float]] = {}
        self.rejections: dict[str, int] = {}  # requests refused 429, by policy (for /metrics)

    async def warm_up(self) -> None:
        """Have Redis load the limiter's scripts before the first requests do (else a burst at
        start-up loads them once per request in flight, slowly enough to trip the breaker)."""
        if isinstance(self._limiter, _Failover):
            item = RateLimitItemPerMinute(1)
            await self._limiter.test(item, "warm-up")
            await self._limiter.get_window_stats(item, "warm-up")

    def _portion(self, per_minute: int) -> int:
        return max(1, per_minute // self._share)

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def charge(self, caller: Caller, cost: int = 1) -> Quota | None:
        """Count `cost` requests against the caller's partner; raises `RateLimited` past its quota.

        Requests are counted here and handed to the limiter in batches of up to 0.1% of the quota
        (or every `_FLUSH_SECONDS`), so a busy partner costs the limiter (a Redis round trip,
        with REDIS_URL) once per batch, not once per request: measured at a third of the
        catalogue fast path's time otherwise. A replica can so let through at most one batch
        past the quota; quotas under 2000 a minute are counted request by request.
        Once refused, the partner is refused here, without the limiter, for up to a second.

        Returns the quota as it now stands for the answer's headers (`Quota`), or None while the
        limiter's storage is out of reach."""
        now = time.monotonic()
        partner = caller.partner_id
        refused = self._refused.get(partner)
        if refused is not None:
            if now < refused[0]:
                self._rejected("partner")
                raise RateLimited(refused[1].detail, headers=refused[1].headers)  # a fresh one: no traceback piles up
            del self._refused[partner]
        quota = self._portion(caller.rate_limit or self._default)
        pending = self._pending.get(partner, 0) + cost
        if pending < quota // _BATCH_DIVISOR and now - self._flushed_at.get(partner, -math.inf) < _FLUSH_SECONDS:
            self._pending[partner] = pending
            return self._quota(partner, quota, pending)
        self._pending[partner], self._flushed_at[partner] = 0, now
        item, identity = self._item(quota), f"partner:{partner}"
        if not await self._hit(item, identity, pending):
            refusal = await self._refusal(item, identity, "partner", "This partner's request quota is used up")
            self._refused[partner] = (now + 1.0, refusal)
            self._rejected("partner")
            raise refusal
        try:
            stats = await self._limiter.get_window_stats(item, identity)
        except Exception as error:
            self._storage_failed(error)
            self._windows.pop(partner, None)
            return None
        self._windows[partner] = (stats.remaining, stats.reset_time)
        return self._quota(partner, quota, 0)

    def _quota(self, partner: int, quota: int, pending: int) -> "Quota | None":
        """The partner's quota as it stands: what its last batch left, less what is counted since."""
        window = self._windows.get(partner)
        if window is None:
            return None
        left, reset_at = window
        seconds = math.ceil(reset_at - time.time())
        if seconds <= 0:  # a new window since: the whole quota, less what is counted since
            left, seconds = quota, _WINDOW_SECONDS
        return Quota(quota, max(0, left - pending), seconds)

    async def refuse_failing_client(self, address: str) -> None:
        """Raises `RateLimited` if the client at `address` has used up its failed authentications."""
        identity = f"auth-failures:{address}"
        try:
            allowed = await self._limiter.test(self._auth_failures, identity)
        except Exception as error:
            self._storage_failed(error)
            return
        if not allowed:
            self._rejected("auth-failures")
            raise await self._refusal(
                self._auth_failures, identity, "auth-failures", "Too many requests with a missing or invalid API key"
            )

    def _rejected(self, policy: str) -> None:
        self.rejections[policy] = self.rejections.get(policy, 0) + 1

    async def count_failed_authentication(self, address: str) -> None:
        await self._hit(self._auth_failures, f"auth-failures:{address}", 1)

    async def _hit(self, item: RateLimitItem, identity: str, cost: int) -> bool:
        try:
            return await self._limiter.hit(item, identity, cost=cost)
        except Exception as error:
            self._storage_failed(error)
            return True

    async def _refusal(self, item: RateLimitItem, identity: str, policy: str, what: str) -> RateLimited:
        try:
            stats = await self._limiter.get_window_stats(item, identity)
            wait = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as error:
            self._storage_failed(error)
            wait = _WINDOW_SECONDS
        quota = item.amount
        return RateLimited(
            f"{what} ({quota} per minute); retry in {wait} s.",
            headers={
                "Retry-After": str(wait),
                "RateLimit-Policy": f'"{policy}";q={quota};w={_WINDOW_SECONDS}',
                "RateLimit": f'"{policy}";r=0;t={wait}',
            },
        )

    def _storage_failed(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            cause = getattr(error, "storage_error", None)  # what `limits` wrapped
            logger.warning(
                "rate-limit storage unavailable (%s): counting in memory, each process at its share of every quota",
                type(error).__name__ + (f": {type(cause).__name__}" if cause is not None else ""),
            )
