"""The HTTP edge: what uvicorn's protocol (httptools) does not bound, bounded here.

uvicorn caps concurrency (`limit_concurrency`: past it, new requests get 503) and closes idle
keep-alive connections (`timeout_keep_alive`), and its h11 protocol caps an unfinished request
head; its faster httptools protocol, the one that runs, has none of these:

- **Header size and count**: a request head over `MAX_HEAD_BYTES` (16 KiB: request line and
  headers) or with more than `MAX_HEADERS` headers is answered `431` and the connection closed,
  while it is still arriving, so a client sending an endless header costs at most 16 KiB.
- **Head timeout**: a request head not complete `head_timeout` seconds after its first byte
  (or after the connection opened) is answered `408` and closed: slow-header clients
  (slowloris) cannot hold connections open.
- **Body deadline**: a request body must arrive at `MIN_BODY_RATE` (64 KiB/s) on average after
  a `body_timeout` allowance: by `body_timeout + bytes received / 64 KiB/s` seconds after its
  head. Past it the request is answered `408` (unless an answer has started) and closed, so a
  body sent a byte now and then cannot hold a connection for long.
- **Connections per client address**: at most `max_per_client` open at once from one address
  (the peer's; proxies the operator trusts, `FORWARDED_ALLOW_IPS`, are exempt: they bound their
  clients themselves). Past it a new connection is answered `503` and closed at once, before
  anything is read, so one client cannot take the connection slots everyone shares.

`GuardedHttpTools` is uvicorn's `HttpToolsProtocol` with these checks added around its parser
callbacks; `app.worker.HttpTools` is it with the service's settings, passed to uvicorn by name.
"""

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 100
MIN_BODY_RATE = 64 * 1024  # bytes per second, on average, once the allowance is spent


def _problem_response(status: int, title: str, detail: str, extra_headers: bytes = b"") -> bytes:
    """A whole HTTP answer, written before any request reached the app: a problem+json body, as
    every error the service answers has."""
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return (
        f"HTTP/1.1 {status} {title}\r\n".encode()
        + extra_headers
        + b"content-type: application/problem+json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )


_TOO_LARGE = _problem_response(431, "Request Header Fields Too Large", "Request headers too large or too many.")
_TIMEOUT = _problem_response(408, "Request Timeout", "The request did not arrive in time.")
_BUSY = _problem_response(
    503, "Service Unavailable", "Too many open connections from this address.", b"retry-after: 1\r\n"
)


class TrustedProxies:
    """The addresses `FORWARDED_ALLOW_IPS` names (IPs and networks, comma-separated; `*`: any)."""

    def __init__(self, listed: str | Iterable[str] = "") -> None:
        items = [item.strip() for item in (listed.split(",") if isinstance(listed, str) else listed)]
        self.any = "*" in items
        self.networks = [ipaddress.ip_network(item, strict=False) for item in items if item and item != "*"]

    def __contains__(self, address: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # a Unix socket's peer, say
            return False
        return any(ip in network for network in self.networks)


# Open connections by client address, in this process.
_open_by_address: dict[str, int] = {}


class GuardedHttpTools(HttpToolsProtocol):
    head_timeout: float = 10.0
    body_timeout: float = 15.0
    max_per_client: int = 64
    trusted: TrustedProxies = TrustedProxies()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests or inside a head: bytes received are head bytes
        self._head_bytes = 0  # received since the head began (raw, so an unfinished head counts)
        self._too_large = False
        self._in_body = False
        self._body_started = 0.0  # loop time the current body's head was complete
        self._body_bytes = 0
        self._address: str | None = None  # counted in `_open_by_address` while open
        # When this connection times out (loop time), or None; checked by one sweep a loop for
        # every connection, instead of a timer per request (measured: per-request timers cost a
        # third of the catalogue fast path's throughput).
        self.deadline: float | None = None

    def _busy(self) -> bool:
        """Our side is the one to move: an answer is being sent, the previous request is still
        being answered while the next head arrives, or a request waits in uvicorn's pipeline.
        Nothing may be written in between, and the client is not the one late."""
        if self.pipeline:
            return True
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and (cycle.response_started or self._in_head)

    def _timed_out(self) -> None:
        if self.transport.is_closing():
            return
        if self._busy():  # look again later
            self.deadline = self.loop.time() + (self.head_timeout if self._in_head else self.body_timeout)
            return
        self.deadline = None
        self.transport.write(_TIMEOUT)
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app's next send is dropped, not an error
        self.transport.close()

    def _refuse(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self._busy():  # a head queued behind an answer: finish that one, then close
            if self.cycle is not None:
                self.cycle.keep_alive = False
            self.transport.pause_reading()
            return
        self.transport.write(_TOO_LARGE)
        self.transport.close()

    # -- the protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None and address not in self.trusted:
            open_now = _open_by_address.get(address, 0)
            if open_now >= self.max_per_client:
                transport.write(_BUSY)
                transport.close()
                return
            _open_by_address[address] = open_now + 1
            self._address = address
        self.deadline = self.loop.time() + self.head_timeout
        _watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _watched.discard(self)
        address, self._address = self._address, None
        if address is not None:
            left = _open_by_address[address] - 1
            if left:
                _open_by_address[address] = left
            else:
                del _open_by_address[address]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._too_large:
            return
        if self._in_head:
            if self.deadline is None:  # the first byte of the next request on a kept-alive connection
                self.deadline = self.loop.time() + self.head_timeout
            self._head_bytes += len(data)
        super().data_received(data)
        if self._too_large or (self._in_head and self._head_bytes > MAX_HEAD_BYTES):
            self._too_large = True
            self._refuse()

    def on_headers_complete(self) -> None:
        headers = self.headers
        # The bytes received since the head began bound its size: the sum is needed only past that.
        if len(headers) > MAX_HEADERS or (
            self._head_bytes > MAX_HEAD_BYTES
            and len(self.url) + sum(len(n) + len(v) + 4 for n, v in headers) > MAX_HEAD_BYTES
        ):
            self._too_large = True
            return  # no request starts; `data_received` answers 431 once the parser returns
        self._in_head, self._in_body = False, True
        self._body_started, self._body_bytes = self.loop.time(), 0
        self.deadline = self._body_started + self.body_timeout
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        # The whole body's deadline moves on only as fast as the minimum rate: a byte now and
        # then buys next to nothing.
        self._body_bytes += len(body)
        self.deadline = self._body_started + self.body_timeout + self._body_bytes / MIN_BODY_RATE
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._too_large:
            return
        # The next bytes are the next request's head; its time starts with its first byte.
        self._in_body, self._in_head, self._head_bytes, self.deadline = False, True, 0, None
        super().on_message_complete()


_SWEEP_SECONDS = 0.25
_watched: set[GuardedHttpTools] = set()
_sweeping: list[asyncio.TimerHandle] = []


def _watch(connection: GuardedHttpTools) -> None:
    _watched.add(connection)
    if not _sweeping:
        _sweeping.append(connection.loop.call_later(_SWEEP_SECONDS, _sweep, connection.loop))


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    """Time out every watched connection past its deadline; runs while any is open."""
    now = loop.time()
    for connection in [c for c in _watched if c.deadline is not None and c.deadline <= now]:
        connection._timed_out()
    _sweeping.clear()
    if _watched:
        _sweeping.append(loop.call_later(_SWEEP_SECONDS, _sweep, loop))
