"""Creating partners, issuing and revoking their keys, and resolving a key to its caller."""

import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Session, col, select

from app.callers import Caller
from app.cors import normalise_origin
from app.errors import Conflict, InvalidRequest, NotFound, ProblemError
from app.partners.tables import ApiKey, Partner, PartnerOrigin, utcnow

# How soon a change to a partner's allowed origins (the CLI, on any machine) or its own content
# (another replica) reaches a replica (`app.background` reloads them).
ORIGINS_REFRESH_SECONDS = 5.0
SCOPES = ("catalogue:read", "catalogue:write", "sessions:read", "sessions:write", "webhooks:manage")
KEY_PREFIX = "sw_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8


class PartnerExists(Conflict):
    """A partner of that name is already registered."""


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted digest cannot be brute-forced.
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise InvalidRequest(f"scopes must be a comma-separated subset of {', '.join(SCOPES)}", loc=["scopes"])
    return scopes


def create_partner(*, session: Session, name: str) -> Partner:
    if session.exec(select(Partner).where(Partner.name == name)).first():
        raise PartnerExists(f"a partner named {name!r} already exists")
    partner = Partner(name=name)
    session.add(partner)
    session.flush()
    return partner


def set_rate_limit(*, session: Session, name: str, per_minute: int | None) -> Partner:
    """Set the partner's quota in requests per minute (None: back to the service's default)."""
    if per_minute is not None and not 1 <= per_minute <= 10_000_000:
        raise InvalidRequest("the rate limit must be between 1 and 10000000 requests per minute", loc=["rate_limit"])
    partner = find_partner(session=session, name=name)
    partner.rate_limit_per_minute = per_minute
    session.add(partner)
    session.flush()
    return partner


def set_disabled(*, session: Session, name: str, disabled: bool) -> Partner:
    """Turn a partner off (every key and user token of it refused; nothing it stored is touched)
    or on again."""
    partner = find_partner(session=session, name=name)
    if disabled and partner.disabled_at is None:
        partner.disabled_at = utcnow()
    elif not disabled:
        partner.disabled_at = None
    session.add(partner)
    session.flush()
    return partner


def find_partner(*, session: Session, name: str) -> Partner:
    partner = session.exec(select(Partner).where(Partner.name == name)).first()
    if partner is None:
        raise NotFound(f"no partner named {name!r}")
    return partner


def list_partners(*, session: Session) -> list[tuple[Partner, list[ApiKey]]]:
    """Every partner with its keys (revoked ones included), oldest first."""
    keys: dict[int, list[ApiKey]] = {}
    for key in session.exec(select(ApiKey).order_by(col(ApiKey.id))).all():
        keys.setdefault(key.partner_id, []).append(key)
    partners = session.exec(select(Partner).order_by(col(Partner.id))).all()
    return [(partner, keys.get(partner.id or 0, [])) for partner in partners]


def change_origins(*, session: Session, name: str, add: list[str], remove: list[str]) -> list[str]:
    """Allow the origins `add` and stop allowing `remove` (each normalised as a browser sends
    it); returns the partner's origins now. Every origin is checked before anything changes."""
    partner = find_partner(session=session, name=name)
    problems: list[ProblemError] = []
    added: list[str] = []
    removed: list[str] = []
    for field, texts, into in (("add", add, added), ("remove", remove, removed)):
        for text in texts:
            try:
                into.append(normalise_origin(text))
            except ValueError as error:
                problems.append(ProblemError(loc=[field], msg=str(error)))
    if problems:
        raise InvalidRequest.of(problems)
    current = set(origins_of(session=session, partner_id=partner.id or 0))
    for origin in sorted(set(added) - current):
        session.add(PartnerOrigin(partner_id=partner.id or 0, origin=origin))
    for origin in set(removed) & current:
        session.exec(
            delete(PartnerOrigin).where(
                col(PartnerOrigin.partner_id) == partner.id, col(PartnerOrigin.origin) == origin
            )
        )
    session.flush()
    return origins_of(session=session, partner_id=partner.id or 0)


def origins_of(*, session: Session, partner_id: int) -> list[str]:
    rows = session.exec(select(PartnerOrigin.origin).where(PartnerOrigin.partner_id == partner_id))
    return sorted(rows.all())


def all_origins(*, session: Session) -> dict[int, list[str]]:
    """Every partner's allowed origins, by partner id (partners with none are left out)."""
    by_partner: dict[int, list[str]] = {}
    for partner_id, origin in session.exec(select(PartnerOrigin.partner_id, PartnerOrigin.origin)).all():
        by_partner.setdefault(partner_id, []).append(origin)
    return by_partner


def count_partners(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Partner)).one()


def issue_key(*, session: Session, partner: Partner, scopes: frozenset[str]) -> tuple[ApiKey, str]:
    """Return the stored key record and the key itself, which is never stored or shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    assert partner.id is not None, "the partner is stored (flushed) before it gets a key"
    record = ApiKey(
        partner_id=partner.id,
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_key(key),
        scopes=",".join(sorted(scopes)),
    )
    session.add(record)
    session.flush()
    return record, key


def revoke_key(*, session: Session, key_prefix_or_id: str) -> ApiKey:
    """Revoke one key, named by its id, its prefix (first 11 characters) or the whole key."""
    if key_prefix_or_id.isdigit():
        condition = col(ApiKey.id) == int(key_prefix_or_id)
    elif len(key_prefix_or_id) > PREFIX_LENGTH:
        condition = col(ApiKey.key_hash) == hash_key(key_prefix_or_id)
    elif len(key_prefix_or_id) == PREFIX_LENGTH:
        condition = col(ApiKey.prefix) == key_prefix_or_id
    else:
        raise InvalidRequest(f"name a key by its id or its first {PREFIX_LENGTH} characters", loc=["key"])
    candidates = session.exec(select(ApiKey).where(condition)).all()
    if not candidates:
        raise NotFound(f"no API key matches {key_prefix_or_id[:PREFIX_LENGTH]!r}")
    if len(candidates) > 1:
        raise InvalidRequest("more than one key has this prefix; give the key id", loc=["key"])
    record = candidates[0]
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
        session.flush()
    return record


async def find_caller(*, connection: AsyncConnection, key_hash: str) -> Caller | None:
    """The partner and scopes behind a key's hash, unless the key is unknown or revoked."""
    return await _caller_where(connection, col(ApiKey.key_hash) == key_hash)


async def find_caller_by_key_id(*, connection: AsyncConnection, key_id: int) -> Caller | None:
    """The caller of the key with this id (a user token's minting key), unless it is revoked."""
    return await _caller_where(connection, col(ApiKey.id) == key_id)


async def _caller_where(connection: AsyncConnection, condition: Any) -> Caller | None:
    query = (
        select(col(ApiKey.id), col(ApiKey.partner_id), col(ApiKey.scopes), col(Partner.rate_limit_per_minute))
        .join(Partner, col(Partner.id) == col(ApiKey.partner_id))
        .where(condition, col(ApiKey.revoked_at).is_(None), col(Partner.disabled_at).is_(None))
    )
    record = (await connection.execute(query)).first()
    if record is None:
        return None
    return Caller(
        partner_id=record.partner_id,
        key_id=record.id,
        scopes=frozenset(record.scopes.split(",")),
        rate_limit=record.rate_limit_per_minute,
    )
