"""create_app(): the application state, routers, middleware and error handlers."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from app import health, metrics, openapi
from app.asgi import GZipExcept, serve
from app.background import lifespan
from app.body_limits import BodyLimits
from app.catalogue import fastpath as catalogue_fastpath
from app.catalogue import router as catalogue_router
from app.catalogue.memory import EMPTY, GZIP_LEVEL, GZIP_MIN_BYTES, LiveCatalogue
from app.clearances import router as clearances_router
from app.content import router as content_router
from app.db.engines import make_async_engine, make_engine
from app.db.transactions import Transaction
from app.docs import install_docs
from app.frontdoor import FrontDoor, Lane
from app.http_errors import install_error_handlers
from app.migrate import head_revision
from app.partners import router as partners_router
from app.partners.auth import KeyStore
from app.progress import router as progress_router
from app.ratelimits import RateLimits
from app.recommendations import hotpath as recommendations_hotpath
from app.recommendations import router as recommendations_router
from app.sessions import hotpath as sessions_hotpath
from app.sessions import router as sessions_router
from app.settings import Settings, get_settings
from app.state import AppState
from app.webhooks import router as webhooks_router

DESCRIPTION = """\
Exercise catalogue, progression ladders, session logs and next-step recommendations for partner
apps. Authenticate with `Authorization: Bearer <api key>`, or, in a browser acting for one user,
with a user token the partner's backend mints (`POST /v1/users/{user_id}/tokens`). Errors are
`application/problem+json`.
"""


class StepwiseAPI(FastAPI):
    """FastAPI whose `state` is one typed `AppState`, with `app.asgi.serve` in front of it all."""

    state: AppState  # type: ignore[assignment]

    front_door: FrontDoor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = self  # as Starlette sets it, for the layers in front of it too
            await serve(self.state, self.front_door, super().__call__, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def fast_lanes() -> dict[Callable[..., Any], Lane]:
    """The routes with a fast lane, by endpoint: every catalogue read (its answers from memory),
    storing one session and reading a recommendation (their plain case)."""
    routes = [route for route in catalogue_router.router.routes if isinstance(route, APIRoute)]
    catalogue_reads = [route.endpoint for route in routes if "GET" in (route.methods or ())]
    return dict.fromkeys(catalogue_reads, catalogue_fastpath.answer_from_cache) | {
        sessions_router.post_session: sessions_hotpath.post_session,
        recommendations_router.get_recommendation: recommendations_hotpath.get_recommendation,
    }


def create_app(settings: Settings | None = None) -> StepwiseAPI:
    settings = settings or get_settings()
    app = StepwiseAPI(
        title="Stepwise",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,  # app.docs serves them, from installed assets
        redoc_url=None,
    )
    install_docs(app)
    database = make_async_engine(settings.database_url, pool_size=settings.db_pool_size, **settings.engine_options())
    transaction = Transaction(database, timeout=settings.db_statement_timeout)
    app.state = AppState(
        settings=settings,
        # Start-up loads and the periodic jobs only, a few times a minute: two connections.
        engine=make_engine(settings.database_url, pool_size=2, **settings.engine_options()),
        database=database,
        transaction=transaction,
        limits=RateLimits(
            per_minute=settings.rate_limit_per_minute,
            auth_failures_per_minute=settings.auth_failures_per_minute,
            redis_url=settings.redis_url,
            share=settings.workers,
            replicas=settings.replicas,
        ),
        keys=KeyStore(transaction, ttl=settings.key_cache_seconds, stale_limit=settings.key_stale_seconds),
        catalogue=LiveCatalogue(EMPTY),  # until the lifespan loads the synced one
        migration_head=head_revision(),
    )
    shared = metrics.shared_metrics()
    if shared is not None:  # one of several workers
        app.state.request_counts = metrics.SharedRequestCounts(shared)
    install_error_handlers(app)
    # Matched in this order: the database-bound routes first, the catalogue (mostly answered by
    # the fast path before routing) after them.
    for module in (
        sessions_router,
        clearances_router,
        partners_router,
        recommendations_router,
        progress_router,
        content_router,
        webhooks_router,
        catalogue_router,
        health,
        metrics,
    ):
        app.include_router(module.router)
    app.add_middleware(
        BodyLimits,
        large_body_paths=sessions_router.LARGE_BODY_PATHS + recommendations_router.LARGE_BODY_PATHS,
        document_paths=content_router.DOCUMENT_PATHS,
        document_limit=settings.content_max_document_kib * 1024,
    )
    # Level 1 takes under a millisecond even on a 500-session answer: inline beats a thread hop.
    app.add_middleware(
        GZipExcept,
        skip_prefixes=catalogue_router.PATH_PREFIXES,
        minimum_size=GZIP_MIN_BYTES,
        compresslevel=GZIP_LEVEL,
        thread_minimum_size=16 * 1024 * 1024,
    )
    app.front_door = FrontDoor(app, fast_lanes())
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    return app
