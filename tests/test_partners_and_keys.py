"""API keys: created by the CLI, stored hashed, working at once, refused soon after revocation."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlmodel import Session, select

from app.db.engines import make_async_engine
from app.db.transactions import Transaction
from app.partners.tables import ApiKey, Partner


def test_cli_key_is_on_the_last_line_and_works_at_once_on_a_running_service(client, database_url, cli):
    result = cli(database_url, "partners", "create", "acme-fitness", "--scopes", "catalogue:read,sessions:read")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("sw_") and " " not in key
    response = client.get("/v1/progressions/lunge-ladder", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert key not in result.stderr


def test_cli_refuses_unknown_scopes_and_duplicate_names(client, database_url, cli):
    bad = cli(database_url, "partners", "create", "acme", "--scopes", "catalogue:delete")
    assert bad.returncode == 1 and "scopes" in bad.stderr
    assert cli(database_url, "partners", "create", "acme").returncode == 0
    again = cli(database_url, "partners", "create", "acme")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_keys_are_stored_only_as_hashes(client, make_key, app):
    key = make_key("catalogue:read", name="hash-check")
    with Session(app.state.engine) as session:
        record = session.exec(select(ApiKey).join(Partner).where(Partner.name == "hash-check")).one()
    assert key not in {record.key_hash, record.prefix, record.scopes}
    assert record.prefix == key[: len(record.prefix)] and len(record.key_hash) == 64


def test_revoked_key_is_refused_within_the_cache_time(client, database_url, make_key, app, cli):
    key = make_key("catalogue:read")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/muscles", headers=headers).status_code == 200
    assert client.get("/v1/muscles", headers=headers).status_code == 200  # now cached in memory
    result = cli(database_url, "partners", "revoke", key[:11])  # as an operator would, from another process
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + app.state.settings.key_cache_seconds + 0.5
    while client.get("/v1/muscles", headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "revoked key still accepted after the key cache time"
        time.sleep(0.05)
    refused = client.get("/v1/muscles", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API key is unknown or revoked."


def test_revoke_needs_an_exact_key_name(client, database_url, cli):
    assert cli(database_url, "partners", "revoke", "sw_").returncode == 1
    missing = cli(database_url, "partners", "revoke", "sw_00000000")
    assert missing.returncode == 1 and "no API key" in missing.stderr


@pytest.mark.parametrize("setting", ["11", "-1"])
def test_key_cache_time_cannot_exceed_ten_seconds(setting):
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError):
        Settings(key_cache_seconds=setting)


@asynccontextmanager
async def own_transaction(app) -> AsyncIterator[Transaction]:
    """A transaction runner on the app's database with an engine of the running event loop's
    own: the app's engine belongs to its server's loop, and a pool shared across two loops
    fails when they contend (its lock is bound to the first)."""
    engine = make_async_engine(app.state.settings.database_url, **app.state.settings.engine_options())
    try:
        yield Transaction(engine)
    finally:
        await engine.dispose()


def test_a_flood_of_unknown_keys_evicts_the_least_used_entries_not_the_whole_cache(client, make_key, app, cli):
    """The key cache is an LRU: a key in use stays cached (answered without the database) while
    thousands of made-up keys pass through a cache of a few entries."""
    import anyio

    from app.partners.auth import KeyStore

    key, other = make_key("catalogue:read"), make_key("catalogue:read")
    now = [0.0]
    keys: list[KeyStore] = []

    async def flood() -> None:
        async with own_transaction(app) as transaction:
            keys.append(KeyStore(transaction, ttl=5.0, max_entries=4, clock=lambda: now[0]))
            await flooded(keys[0])

    async def flooded(keys: KeyStore) -> None:
        assert await keys.authenticate(key) is not None and await keys.authenticate(other) is not None
        for n in range(200):
            assert await keys.authenticate(f"sw_made-up-{n}") is None
            assert keys.cached(key) is not None  # in use: stays
            assert keys.size() <= 4

    anyio.run(flood)
    assert keys[0].cached(other) is None  # unused: evicted by the flood, looked up again when next seen


def test_a_slow_database_never_revives_a_revoked_key(client, make_key, app):
    """Stale entries serve only while the database refuses connections; a pool or statement
    timeout (the database is there, only slow) leaves a revoked key refused, and another key's
    failed lookup does not open the stale window for this one."""
    import anyio
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.partners.auth import KeyStore

    class SlowThenGone:
        """The shared transaction runner, failing as told."""

        def __init__(self, transaction) -> None:
            self.transaction, self.failure = transaction, None

        async def autocommit(self, work, **arguments):
            if self.failure is not None:
                raise self.failure
            return await self.transaction.autocommit(work, **arguments)

    revoked, other = make_key("catalogue:read"), make_key("catalogue:read")
    now = [0.0]

    async def scenario() -> None:
        async with own_transaction(app) as transaction:
            await slow_then_gone(SlowThenGone(transaction))

    async def slow_then_gone(runner: SlowThenGone) -> None:
        keys = KeyStore(runner, ttl=1.0, stale_limit=300.0, clock=lambda: now[0])
        assert await keys.authenticate(revoked) is not None and await keys.authenticate(other) is not None
        now[0] = 10.0  # both past the cache time
        runner.failure = PoolTimeout("pool timed out")
        for key in (other, revoked):
            try:
                await keys.authenticate(key)
            except PoolTimeout:
                pass
            else:
                raise AssertionError("a pool timeout served a stale key")

    anyio.run(scenario)


def test_requests_in_flight_with_an_unchecked_key_share_one_lookup(client, make_key, app, monkeypatch):
    """Twenty requests arriving together with a key not checked lately wait for one lookup,
    not twenty (each would hold a database connection)."""
    from concurrent.futures import ThreadPoolExecutor

    from app.partners import auth

    lookups: list[str] = []
    find_caller = auth.find_caller

    async def counted(*, connection, key_hash):
        lookups.append(key_hash)
        await asyncio.sleep(0.05)  # a lookup slower than the requests' arrival
        return await find_caller(connection=connection, key_hash=key_hash)

    monkeypatch.setattr(auth, "find_caller", counted)
    headers = {"Authorization": f"Bearer {make_key()}"}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: client.get("/v1/exercises/reverse-lunge", headers=headers), range(20)))
    assert [answer.status_code for answer in answers] == [200] * 20
    assert len(lookups) == 1


def test_a_disabled_partners_keys_and_tokens_are_refused_within_the_cache_time_until_enabled(
    client, database_url, app, cli
):
    created = cli(
        database_url, "partners", "create", "leaving-co", "--scopes", "catalogue:read,sessions:read,sessions:write"
    )
    assert created.returncode == 0, created.stderr
    key = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    other = cli(database_url, "partners", "create", "staying-co", "--scopes", "catalogue:read")
    bystander = {"Authorization": f"Bearer {other.stdout.strip().splitlines()[-1]}"}
    minted = client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=key)
    assert minted.status_code == 201, minted.text
    token = {"Authorization": f"Bearer {minted.json()['token']}"}

    def statuses() -> tuple[int, int, int]:
        return (
            client.get("/v1/muscles", headers=key).status_code,
            client.get("/v1/users/u-1/sessions", headers=token).status_code,
            client.get("/v1/muscles", headers=bystander).status_code,
        )

    assert statuses() == (200, 200, 200)  # (all cached now)
    disabled = cli(database_url, "partners", "disable", "leaving-co")
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    deadline = time.monotonic() + app.state.settings.key_cache_seconds + 0.5
    while statuses() != (401, 401, 200):
        assert time.monotonic() < deadline, f"still {statuses()} after the key cache time"
        time.sleep(0.05)
    listed = cli(database_url, "partners", "list").stdout
    assert any(line.startswith("leaving-co ") and "DISABLED since" in line for line in listed.splitlines())
    assert cli(database_url, "partners", "enable", "leaving-co").returncode == 0
    deadline = time.monotonic() + app.state.settings.key_cache_seconds + 0.5
    while statuses() != (200, 200, 200):
        assert time.monotonic() < deadline, f"still {statuses()} after enabling"
        time.sleep(0.05)
    assert cli(database_url, "partners", "disable", "no-such-partner").returncode == 1
