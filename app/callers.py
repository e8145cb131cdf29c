"""Who is calling: what the front door resolves from a request's credential (an API key or a
user token) and every later layer reads. A leaf: the partners package finds callers, the rate
limiter charges them, the routes check their scopes, and none of them needs another for that."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid key (or user token) speaks for."""

    partner_id: int
    key_id: int  # the key; for a user token, the key that minted it
    scopes: frozenset[str]
    rate_limit: int | None = None  # requests per minute; None: the service's default
    user_id: str | None = None  # a user token acts for this one user only; a key, for all
