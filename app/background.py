"""What runs beside the requests: loading the catalogue and the deployment's secrets at
start-up, following catalogue syncs and partners' origin changes made elsewhere, and purging
expired idempotency records. `lifespan` starts and stops it all."""

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.applications import Starlette

from app.catalogue.memory import EMPTY, LiveCatalogue, load_live, stored_version
from app.content import service as content
from app.content.views import rebuild_view
from app.cors import Origins
from app.http_errors import database_unavailable
from app.idempotency.service import purge_expired
from app.metrics import SharedMetrics, shared_metrics
from app.partners import service as partners
from app.partners.service import ORIGINS_REFRESH_SECONDS
from app.partners.tokens import load_secret
from app.sealing.service import load_data_keys
from app.state import AppState, state_of
from app.webhooks.delivery import Deliverer, schedule_from
from app.webhooks.messages import purge_old
from app.webhooks.outbox import QUEUED, Subscriptions, load_subscriptions

logger = logging.getLogger("stepwise")
PURGE_INTERVAL_SECONDS = 600
# With several workers, how stale another worker's figures in a scrape may be.
METRICS_PUBLISH_SECONDS = 1.0


def _log_failure(error: Exception, message: str, *arguments: object) -> None:
    """A database out of reach is one warning line per attempt; anything else, with its traceback."""
    if database_unavailable(error):
        logger.warning(message + " (database unavailable: %s)", *arguments, type(error).__name__)
    else:
        logger.error(message, *arguments, exc_info=error)


async def _follow_catalogue_syncs(state: AppState, interval: float) -> None:
    """Swap in a new in-memory catalogue when a sync (on any replica, or the CLI) changed it."""
    while True:
        await asyncio.sleep(interval)
        try:
            version = await anyio.to_thread.run_sync(stored_version, state.engine)
            if version != state.catalogue.version:
                state.catalogue = await anyio.to_thread.run_sync(load_live, state.engine)
                logger.info("catalogue reloaded at version %s", version)
        except Exception as error:
            _log_failure(error, "catalogue refresh failed; keeping version %s", state.catalogue.version)


def _load_origins(engine: Engine) -> Origins:
    with Session(engine) as session:
        return Origins(partners.all_origins(session=session))


def _load_subscriptions(engine: Engine) -> Subscriptions:
    with Session(engine) as session:
        return load_subscriptions(session)


async def reload_subscriptions(state: AppState) -> None:
    """Which event types each partner's endpoints want (at once after a change on this replica).
    An endpoint registered here while the load ran may be missing from what it read: what was
    added meanwhile is kept (a removal waits for the next reload, as it always does)."""
    before = state.webhook_subscriptions
    loaded = await anyio.to_thread.run_sync(_load_subscriptions, state.engine)
    meanwhile = state.webhook_subscriptions
    if meanwhile is not before:
        for partner, types in meanwhile.by_partner.items():
            if added := types - before.by_partner.get(partner, frozenset()):
                loaded = loaded.adding(partner, added)
    state.webhook_subscriptions = loaded


async def _load_secrets(state: AppState) -> None:
    """The key that signs user tokens, and the data key that wraps users' keys."""
    configured = state.settings.token_secret
    secret = configured.get_secret_value() if configured else None
    state.keys.tokens.secret = await anyio.to_thread.run_sync(load_secret, state.engine, secret)
    data_key = state.settings.data_key
    await anyio.to_thread.run_sync(_load_data_keys, state.engine, data_key.get_secret_value() if data_key else None)
    state.data_keys_loaded = True


def _load_data_keys(engine: Engine, configured: str | None) -> None:
    with engine.begin() as connection:
        load_data_keys(connection, configured)


async def _reload_partner_content(state: AppState) -> None:
    """Rebuild the views of the partners whose content changed (on any replica) since seen."""
    read_at = time.monotonic()
    stored = await anyio.to_thread.run_sync(content.stored_revisions, state.engine)
    for partner in state.partner_views.changed(stored, read_at):
        stored_content = await anyio.to_thread.run_sync(content.stored_content, state.engine, partner)
        await rebuild_view(state.partner_views, state.catalogue, partner, stored_content)


async def _follow_partner_settings(state: AppState, interval: float) -> None:
    """Reload every partner's allowed origins and changed content (and, until it is loaded,
    the secrets)."""
    while True:
        try:
            if state.keys.tokens.secret is None or not state.data_keys_loaded:
                await _load_secrets(state)
            state.origins = await anyio.to_thread.run_sync(_load_origins, state.engine)
            await reload_subscriptions(state)
            await _reload_partner_content(state)
        except Exception as error:
            _log_failure(error, "reloading partners' origins, webhooks and content failed; keeping the ones loaded")
        await asyncio.sleep(interval)


def _purge_idempotency_records(engine: Engine) -> int:
    with engine.begin() as connection:
        return purge_expired(connection=connection)


async def _purge_webhook_messages(state: AppState, interval: float) -> None:
    """Webhook messages are kept 7 days; older ones (with their attempts) are deleted here."""
    while True:
        try:
            purged = await state.transaction(purge_old, now=datetime.now(UTC))
            if purged:
                logger.info("purged %d webhook messages older than 7 days", purged)
        except Exception as error:
            _log_failure(error, "purging old webhook messages failed")
        await asyncio.sleep(interval)


async def _purge_expired_answers(state: AppState, interval: float) -> None:
    """Idempotency records are kept 24 hours; older ones are deleted here, on every replica
    (the delete is idempotent, so replicas need no coordination)."""
    while True:
        try:
            purged = await anyio.to_thread.run_sync(_purge_idempotency_records, state.engine)
            if purged:
                logger.info("purged %d expired idempotency records", purged)
        except Exception as error:
            _log_failure(error, "purging expired idempotency records failed")
        await asyncio.sleep(interval)


async def _publish_metrics(state: AppState, shared: SharedMetrics) -> None:
    """With several workers: this worker's figures, for any worker's scrape, every second."""
    while True:
        try:
            shared.publish(state)
        except Exception as error:  # noqa: BLE001
            _log_failure(error, "could not publish this worker's metrics")
        await asyncio.sleep(METRICS_PUBLISH_SECONDS)


def _freeze_start_up_heap() -> None:
    """What start-up built (modules, the app and its schemas, the catalogue and its rendered
    answers) lives as long as the process: moved out of the collector's sight, so a collection
    under load walks only what requests allocate. A 500-session batch spent 14% of its CPU in
    collections, 4% with this (measured in process). Once per process, after a collection, so
    no garbage is kept."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state = state_of(app)
    settings = state.settings
    try:
        state.catalogue = await anyio.to_thread.run_sync(load_live, state.engine)
    except Exception:  # not migrated or not reachable yet: start unready, load on a later refresh
        logger.exception("could not load the catalogue; /readyz stays 503 until it loads")
        state.catalogue = LiveCatalogue(EMPTY)
    with suppress(Exception):  # else loaded by the first reload that can
        await _load_secrets(state)
        state.origins = await anyio.to_thread.run_sync(_load_origins, state.engine)
        await reload_subscriptions(state)
        await _reload_partner_content(state)
    with suppress(Exception):  # unreachable now: counted in memory until it is back
        await state.limits.warm_up()
    _freeze_start_up_heap()
    tasks = [
        asyncio.create_task(_follow_catalogue_syncs(state, settings.catalogue_refresh_seconds)),
        asyncio.create_task(_follow_partner_settings(state, ORIGINS_REFRESH_SECONDS)),
        asyncio.create_task(_purge_expired_answers(state, PURGE_INTERVAL_SECONDS)),
        asyncio.create_task(_purge_webhook_messages(state, PURGE_INTERVAL_SECONDS)),
    ]
    state.deliverer = Deliverer(
        state.transaction,
        schedule=schedule_from(settings.webhook_retry_seconds),
        allow_private=settings.webhooks_allow_private,
        lease=timedelta(seconds=settings.webhook_lease_seconds),
    )
    tasks.append(asyncio.create_task(state.deliverer.run()))
    shared = shared_metrics()
    if shared is not None:
        tasks.append(asyncio.create_task(_publish_metrics(state, shared)))
    stop_waking = state.transaction.listen(QUEUED, state.deliverer.wake)  # at once after a write queues
    try:
        yield
    finally:
        stop_waking()
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        state.engine.dispose()
        await state.database.dispose()
        if shared is not None:
            shared.leave()
