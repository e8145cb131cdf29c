"""create_app(): routers, middleware, error handlers and the catalogue's life cycle."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from app import health, metrics
from app.auth import KeyStore
from app.body_limits import BodyLimits
from app.catalogue import router as catalogue_router
from app.catalogue.fastpath import answer_from_cache
from app.catalogue.memory import EMPTY, GZIP_LEVEL, GZIP_MIN_BYTES, LiveCatalogue, load_live, stored_version
from app.db import Transaction, make_engine
from app.errors import PROBLEM_MEDIA_TYPE, install_error_handlers
from app.idempotency import purge_expired
from app.metrics import RequestCounts, registry_for
from app.migrate import head_revision
from app.recommendations import router as recommendations_router
from app.request_id import with_request_id
from app.sessions import router as sessions_router
from app.settings import Settings, get_settings

logger = logging.getLogger("stepwise")
PURGE_INTERVAL_SECONDS = 600

DESCRIPTION = """\
Exercise catalogue, progression ladders, session logs and next-step recommendations for partner
apps. Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json`.
"""


async def _follow_catalogue_syncs(app: FastAPI, interval: float) -> None:
    """Swap in a new in-memory catalogue when a sync (on any replica, or the CLI) changed it."""
    while True:
        await asyncio.sleep(interval)
        try:
            version = await anyio.to_thread.run_sync(stored_version, app.state.engine)
            if version != app.state.catalogue.version:
                app.state.catalogue = await anyio.to_thread.run_sync(load_live, app.state.engine)
                logger.info("catalogue reloaded at version %s", version)
        except Exception:
            logger.exception("catalogue refresh failed; keeping version %s", app.state.catalogue.version)


def _purge_idempotency_records(engine) -> int:
    with Session(engine) as session:
        purged = purge_expired(session=session)
        session.commit()
    return purged


async def _purge_expired_answers(app: FastAPI, interval: float) -> None:
    """Idempotency records are kept 24 hours; older ones are deleted here, on every replica
    (the delete is idempotent, so replicas need no coordination)."""
    while True:
        try:
            purged = await anyio.to_thread.run_sync(_purge_idempotency_records, app.state.engine)
            if purged:
                logger.info("purged %d expired idempotency records", purged)
        except Exception:
            logger.exception("purging expired idempotency records failed")
        await asyncio.sleep(interval)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        app.state.catalogue = await anyio.to_thread.run_sync(load_live, app.state.engine)
    except Exception:  # not migrated or not reachable yet: start unready, load on a later refresh
        logger.exception("could not load the catalogue; /readyz stays 503 until it loads")
        app.state.catalogue = LiveCatalogue(EMPTY)
    tasks = [
        asyncio.create_task(_follow_catalogue_syncs(app, settings.catalogue_refresh_seconds)),
        asyncio.create_task(_purge_expired_answers(app, PURGE_INTERVAL_SECONDS)),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        app.state.engine.dispose()


class GZipExceptCatalogue(GZipMiddleware):
    """Starlette's gzip for every response except catalogue reads, which carry their own
    pre-compressed variant (and ETag per variant) from the response cache."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(catalogue_router.PATH_PREFIXES):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


class StepwiseAPI(FastAPI):
    """FastAPI with the catalogue's fast path in front of everything else, even middleware:
    at tens of thousands of requests a second, each layer skipped is throughput gained."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "GET":
            answered = await answer_from_cache(self.state, scope, send)
            if answered is not None:
                self.request_counts.add(answered)
                return
        status = 500  # unless a response starts: the client went away, or the app failed

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            # Outside Starlette's own error middleware, so even a 500 carries the request id.
            await super().__call__(scope, receive, with_request_id(scope, send_and_count))
        finally:
            route = scope.get("route")
            self.request_counts.add((getattr(route, "path", "unmatched"), scope["method"], status))


def create_app(settings: Settings | None = None) -> StepwiseAPI:
    settings = settings or get_settings()
    app = StepwiseAPI(
        title="Stepwise",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    app.state.transaction = Transaction(app.state.engine)
    app.request_counts = app.state.request_counts = RequestCounts()
    app.state.metrics_registry = registry_for(app.state)
    app.state.keys = KeyStore(app.state.engine, ttl=settings.key_cache_seconds)
    app.state.migration_head = head_revision()
    app.state.catalogue = LiveCatalogue(EMPTY)  # until the lifespan loads the synced one
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(catalogue_router.router)
    app.include_router(sessions_router.router)
    app.include_router(recommendations_router.router)
    app.add_middleware(BodyLimits)
    # Level 1 takes under a millisecond even on a 500-session answer: inline beats a thread hop.
    app.add_middleware(
        GZipExceptCatalogue, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL, thread_minimum_size=16 * 1024 * 1024
    )
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with error responses served as application/problem+json only."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and PROBLEM_MEDIA_TYPE in content:
                        content.pop("application/json", None)
                        content[PROBLEM_MEDIA_TYPE] = {"schema": {"$ref": "#/components/schemas/Problem"}}
                    if status == "422":
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema
