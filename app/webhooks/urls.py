"""Where a webhook may be delivered: an `https` URL whose host resolves to public addresses only.
Checked when an endpoint is registered or its URL changed, and meant to be checked again before
each delivery (a name's addresses can change). `allow_private` (STEPWISE_WEBHOOKS_ALLOW_PRIVATE,
for development and tests) also lets `http` and private, loopback and link-local addresses in."""

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import anyio
import anyio.to_thread

RESOLVE_TIMEOUT_SECONDS = 3.0


class RefusedUrl(ValueError):
    """A URL no delivery may go to; the message says why."""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking: run it in a worker thread)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is no part of it
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    special = ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback or ip.is_link_local
    return ip.is_global and not special


def _parts(url: str, *, allow_private: bool) -> tuple[SplitResult, str, int]:
    schemes = ("https", "http") if allow_private else ("https",)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedUrl("is not a valid URL") from None
    if parts.scheme.lower() not in schemes:
        raise RefusedUrl("must be an https URL" if not allow_private else "must be an http or https URL")
    host = parts.hostname
    if not host:
        raise RefusedUrl("has no host")
    return parts, host, port or (443 if parts.scheme.lower() == "https" else 80)


async def checked_url(url: str, *, allow_private: bool = False) -> list[str]:
    """The addresses a delivery to `url` may connect to, or RefusedUrl: the scheme is `https`
    and every address the host resolves to is public (unless `allow_private`). A host that
    does not resolve within a few seconds is refused."""
    _, host, port = _parts(url, allow_private=allow_private)
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [host]
    else:
        addresses = []
        with anyio.move_on_after(RESOLVE_TIMEOUT_SECONDS):
            try:
                addresses = await anyio.to_thread.run_sync(resolve, host, port, abandon_on_cancel=True)
            except (OSError, UnicodeError):
                addresses = []
        if not addresses:
            raise RefusedUrl(f"has a host, {host!r}, that does not resolve")
    if not allow_private:
        refused = [address for address in addresses if not _is_public(address)]
        if refused:
            raise RefusedUrl(
                f"has a host that resolves to an address that is not public ({refused[0]}): "
                "loopback, private, link-local, multicast and reserved addresses are refused"
            )
    return addresses
