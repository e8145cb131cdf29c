"""`stepwise partners`: partners, their API keys, quotas and browser origins."""

import argparse
import sys

from sqlalchemy import Connection

from app.cli.commands import Commands, argument
from app.cli.database import transaction
from app.db.engines import make_engine
from app.partners import removal
from app.partners import service as partners
from app.partners.service import ORIGINS_REFRESH_SECONDS
from app.partners.tables import ApiKey
from app.settings import Settings

# What a new partner needs to log sessions and get recommendations.
DEFAULT_SCOPES = "catalogue:read,sessions:read,sessions:write"
_SCOPES = argument("--scopes", default=DEFAULT_SCOPES, help="comma-separated: " + ",".join(partners.SCOPES))
_REVOKE = "revoke a key by id, prefix (first 11 characters) or whole key"

commands = Commands()
commands.group("partners", help="partners and API keys")
commands.group("partners", "keys", help="a partner's keys: add one (rotation), revoke one")


def create_partner(
    settings: Settings, name: str, scopes: frozenset[str], rate_limit: int | None = None
) -> tuple[ApiKey, str]:
    with transaction(settings) as session:
        partner = partners.create_partner(session=session, name=name)
        if rate_limit is not None:
            partners.set_rate_limit(session=session, name=name, per_minute=rate_limit)
        record, key = partners.issue_key(session=session, partner=partner, scopes=scopes)
    return record, key


def has_partners(settings: Settings, bind: Connection | None = None) -> bool:
    with transaction(settings, bind) as session:
        return partners.count_partners(session=session) > 0


def ensure_demo_partner(settings: Settings, bind: Connection | None = None) -> str | None:
    """On a database with no partner yet, create `demo` with every scope and return its key."""
    with transaction(settings, bind) as session:
        if partners.count_partners(session=session):
            return None
        partner = partners.create_partner(session=session, name="demo")
        _, key = partners.issue_key(session=session, partner=partner, scopes=frozenset(partners.SCOPES))
    return key


@commands.add(
    "partners",
    "create",
    help="create a partner and print its first API key on the last line",
    arguments=(
        argument("name"),
        _SCOPES,
        argument(
            "--rate-limit", type=int, metavar="N", help="requests per minute for this partner (default: the service's)"
        ),
    ),
)
def _create(args: argparse.Namespace, settings: Settings) -> None:
    scopes = partners.parse_scopes(args.scopes)
    record, key = create_partner(settings, args.name, scopes, args.rate_limit)
    print(f"partner {args.name!r}: key id {record.id}, prefix {record.prefix}, scopes {record.scopes}")
    print(key)


@commands.add(
    "partners",
    "set-rate-limit",
    help="set a partner's requests per minute ('default': the service's)",
    arguments=(argument("name"), argument("per_minute", metavar="N|default")),
)
def _set_rate_limit(args: argparse.Namespace, settings: Settings) -> None:
    if args.per_minute != "default" and not args.per_minute.isdigit():
        sys.exit("stepwise: give a whole number of requests per minute, or 'default'")
    per_minute = None if args.per_minute == "default" else int(args.per_minute)
    with transaction(settings) as session:
        partners.set_rate_limit(session=session, name=args.name, per_minute=per_minute)
    shown = f"{per_minute} requests per minute" if per_minute else "the service's default"
    print(f"partner {args.name!r}: {shown} (in effect within {settings.key_cache_seconds:g} s)")


@commands.add("partners", "revoke", help=_REVOKE, arguments=(argument("key"),))
def _revoke(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        record = partners.revoke_key(session=session, key_prefix_or_id=args.key)
    within = f"{settings.key_cache_seconds:g} s"
    print(f"revoked key id {record.id} ({record.prefix}); every replica refuses it within {within}")


@commands.add(
    "partners", "disable", help="turn a partner off: its keys and tokens are refused", arguments=(argument("name"),)
)
def _disable(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        partners.set_disabled(session=session, name=args.name, disabled=True)
    within = f"{settings.key_cache_seconds:g} s"
    print(f"partner {args.name!r} disabled: every replica refuses its keys and tokens within {within}")


@commands.add("partners", "enable", help="turn a disabled partner on again", arguments=(argument("name"),))
def _enable(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        partners.set_disabled(session=session, name=args.name, disabled=False)
    print(f"partner {args.name!r} enabled: its keys that are not revoked work again")


@commands.add(
    "partners",
    "delete",
    help="remove a partner for good: every user's data, its content, webhook endpoints and keys "
    "(in batches; run it again to resume if interrupted)",
    arguments=(
        argument("name"),
        argument("--yes", action="store_true", help="confirm: without it, only what would be deleted is shown"),
    ),
)
def _delete(args: argparse.Namespace, settings: Settings) -> None:
    from tqdm import tqdm

    engine = make_engine(settings.database_url, **settings.engine_options())
    try:
        partner_id = removal.find(engine, args.name)
        if partner_id is None:
            sys.exit(f"stepwise: no partner named {args.name!r}")
        left = removal.rows_left(engine, partner_id)
        listed = ", ".join(f"{count} {label}" for label, count in left.items())
        if not args.yes:
            sys.exit(
                f"stepwise: deleting partner {args.name!r} erases {listed}, and its content, webhook endpoints, "
                "keys and origins; nothing can bring them back. Add --yes to confirm."
            )
        with transaction(settings) as session:
            partners.set_disabled(session=session, name=args.name, disabled=True)
        print(
            f"partner {args.name!r} disabled: its keys and tokens are refused within {settings.key_cache_seconds:g} s"
        )
        # On the terminal a bar (stderr); in a pipe or a log, nothing but the lines below.
        with tqdm(total=sum(left.values()), unit="rows", desc="erasing", disable=None) as bar:
            for label in removal.delete_user_data(engine, partner_id, done=bar.update):
                bar.write(f"  {label}: all erased")
        removal.delete_partner(engine, partner_id)
    finally:
        engine.dispose()
    print(f"partner {args.name!r} deleted: {listed}, its content, webhook endpoints, keys and origins")


@commands.add("partners", "list", help="list partners, their quotas, keys (prefixes only) and allowed origins")
def _list(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        for partner, keys in partners.list_partners(session=session):
            quota = partner.rate_limit_per_minute or f"default ({settings.rate_limit_per_minute})"
            off = f", DISABLED since {partner.disabled_at:%Y-%m-%d %H:%M}" if partner.disabled_at else ""
            print(f"{partner.name}  (id {partner.id}, since {partner.created_at:%Y-%m-%d}, {quota} requests/min{off})")
            for record in keys:
                state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
                print(f"    key id {record.id}  {record.prefix}...  {record.scopes}  {state}")
            for origin in partners.origins_of(session=session, partner_id=partner.id or 0):
                print(f"    origin {origin}")


@commands.add(
    "partners",
    "origins",
    help="the browser origins a partner's frontends call from (CORS); lists them when given no change",
    arguments=(
        argument("name"),
        argument(
            "--add",
            action="append",
            default=[],
            metavar="ORIGIN",
            help="allow an origin: scheme://host[:port], no path",
        ),
        argument("--remove", action="append", default=[], metavar="ORIGIN", help="stop allowing an origin"),
    ),
)
def _origins(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        now = partners.change_origins(session=session, name=args.name, add=args.add, remove=args.remove)
    shown = ", ".join(now) if now else "none (browsers get no CORS headers for it)"
    print(f"partner {args.name!r} allows the origins: {shown} (in effect within {ORIGINS_REFRESH_SECONDS:g} s)")


@commands.add(
    "partners",
    "keys",
    "add",
    help="issue another key for a partner (the old one keeps working until revoked)",
    arguments=(argument("name"), _SCOPES),
)
def _add_key(args: argparse.Namespace, settings: Settings) -> None:
    with transaction(settings) as session:
        partner = partners.find_partner(session=session, name=args.name)
        scopes = partners.parse_scopes(args.scopes)
        record, key = partners.issue_key(session=session, partner=partner, scopes=scopes)
    print(f"partner {args.name!r}: new key id {record.id}, prefix {record.prefix}, scopes {record.scopes}")
    print(key)


# `partners revoke` again, next to `keys add`: rotation is add, deploy, then revoke.
commands.add("partners", "keys", "revoke", help=_REVOKE, arguments=(argument("key"),))(_revoke)
