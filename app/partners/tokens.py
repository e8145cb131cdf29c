"""User tokens: what a partner's backend mints with its API key so that one user's browser (or
app) can call the API for that user alone, without ever holding the partner's key.

A token is a JWT (RFC 7519) signed with HMAC-SHA256 by a secret of the deployment, so every
replica checks it on its own, with no shared session store. It names the partner, the key
that minted it, the user and the scopes, and expires after `ttl_seconds` (60-3600). The
minting key is checked like any key (`app.partners.auth`), so revoking it stops its tokens
as fast as it stops the key itself.

The secret is STEPWISE_TOKEN_SECRET when set, else one the deployment made for itself on first
start and keeps in its database (table `deployment_secret`), so the embedded default needs no
configuration and replicas agree.
"""

import time
from dataclasses import dataclass

import jwt
from sqlalchemy import Engine

from app.callers import Caller
from app.db.secrets import stored_secret
from app.errors import Unavailable
from app.partners.service import SCOPES

ISSUER = "stepwise"
ALGORITHM = "HS256"
SECRET_NAME = "user-token-signing"
TTL_SECONDS, MIN_TTL_SECONDS, MAX_TTL_SECONDS = 900, 60, 3600
CLOCK_SKEW_SECONDS = 60
# What a token may do: never `catalogue:write` (publishing content is the partner's backend's),
# never `webhooks:manage` (nor are webhooks).
TOKEN_SCOPES = frozenset(SCOPES) - {"catalogue:write", "webhooks:manage"}


class InvalidToken(Exception):
    """Not a token this deployment signed (or one it can no longer read)."""


class RefusedToken(InvalidToken):
    """A token this deployment signed that no longer works: its partner is known (so the
    partner's frontend may read the 401: CORS), and it is no guess at a credential."""

    reason = "refused"

    def __init__(self, partner_id: int) -> None:
        super().__init__(self.reason)
        self.partner_id = partner_id


class ExpiredToken(RefusedToken):
    reason = "expired"


class RevokedToken(RefusedToken):
    """The key that minted it was revoked (or its partner removed)."""

    reason = "revoked"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    partner_id: int
    key_id: int
    user_id: str
    scopes: frozenset[str]
    expires_at: int  # Unix seconds

    def for_key(self, key: Caller) -> Caller | None:
        """The caller the token speaks for, given the caller of the key that minted it (None:
        the token does not belong to that key's partner)."""
        if key.partner_id != self.partner_id or key.key_id != self.key_id:
            return None
        return Caller(
            partner_id=self.partner_id,
            key_id=self.key_id,
            scopes=self.scopes & key.scopes,
            rate_limit=key.rate_limit,
            user_id=self.user_id,
        )


def looks_like_token(credential: str) -> bool:
    """Tokens are JWTs (three base64url parts, the first `{"...`); API keys start with `sw_`."""
    return credential.startswith("eyJ") and credential.count(".") == 2


class TokenSigner:
    """Mints and checks user tokens with the deployment's secret (set once it is loaded)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret

    def _key(self) -> bytes:
        if self.secret is None:  # the database was out of reach at start-up: 503, not a forgery
            raise Unavailable("User tokens cannot be checked yet; retry shortly.")
        return self.secret

    def mint(self, *, key: Caller, user_id: str, scopes: frozenset[str], ttl_seconds: int) -> tuple[str, int]:
        """A token for `user_id` with `scopes`, minted by `key`; returns it and its expiry."""
        now = int(time.time())
        expires_at = now + ttl_seconds
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "ptn": key.partner_id,
            "kid": key.key_id,
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "exp": expires_at,
        }
        return jwt.encode(claims, self._key(), algorithm=ALGORITHM), expires_at

    def verify(self, token: str) -> TokenClaims:
        """The claims of a token this deployment signed, expired or not (the caller checks the
        expiry, every time it uses them); InvalidToken for anything else."""
        try:
            claims = jwt.decode(
                token,
                self._key(),
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Only `iat` is checked against the clock here (expiry is the caller's): a replica
                # whose clock runs a little behind the minting one still takes a fresh token.
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "exp", "iat"], "verify_exp": False},
            )
            scopes = frozenset(str(claims["scope"]).split())
            parsed = TokenClaims(
                partner_id=_whole(claims["ptn"]),
                key_id=_whole(claims["kid"]),
                user_id=str(claims["sub"]),
                scopes=scopes,
                expires_at=_whole(claims["exp"]),
            )
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as error:
            raise InvalidToken(type(error).__name__) from None
        if not scopes or not scopes <= TOKEN_SCOPES:
            raise InvalidToken("scopes")
        return parsed


def _whole(value: object) -> int:
    if type(value) is not int:
        raise ValueError("not a whole number")
    return value


def expired(claims: TokenClaims) -> bool:
    return time.time() >= claims.expires_at


def load_secret(engine: Engine, configured: str | None) -> bytes:
    """STEPWISE_TOKEN_SECRET when set; else the deployment's own, made by the first replica to start."""
    if configured:
        return configured.encode()
    with engine.begin() as connection:
        return stored_secret(connection, SECRET_NAME, random_bytes=48).encode()
