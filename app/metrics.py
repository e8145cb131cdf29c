"""`/metrics` in Prometheus text format: requests by route, method and status, and the state a
replica keeps in memory. Counting is a dictionary increment on the request path; the Prometheus
objects are only built when the endpoint is scraped."""

from collections.abc import Iterator
from datetime import UTC, datetime

import anyio
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.dependencies import AppStateDep
from app.state import LATENCY_BUCKETS, AppState
from app.webhooks.messages import queue_state

router = APIRouter(tags=["operations"])


class _Collector(Collector):
    def __init__(self, state: AppState, webhook_queue: tuple[int, datetime | None] | None = None) -> None:
        self.state = state
        self.webhook_queue = webhook_queue  # None: the database did not answer in time

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "stepwise_http_requests", "HTTP requests answered, by route template", labels=["route", "method", "status"]
        )
        for (route, method, status), count in list(self.state.request_counts.counts.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "stepwise_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template",
            labels=["route", "method"],
        )
        for (route, method), counts in list(self.state.request_counts.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([route, method], buckets, counts[-1])
        yield latency
        yield InfoMetricFamily(
            "stepwise_catalogue", "The catalogue version served", value={"version": self.state.catalogue.version or ""}
        )
        yield GaugeMetricFamily(
            "stepwise_api_keys_cached", "API keys checked recently and held in memory", value=self.state.keys.size()
        )
        yield from self._webhooks()
        yield from self._database()
        rejections = CounterMetricFamily(
            "stepwise_rate_limit_rejections", "Requests refused 429 by this replica, by policy", labels=["policy"]
        )
        for policy, count in sorted(self.state.limits.rejections.items()):
            rejections.add_metric([policy], count)
        yield rejections

    def _database(self) -> Iterator[Metric]:
        transaction = self.state.transaction
        pool = transaction.pool_state()
        if pool is not None:
            size, in_use = pool
            yield GaugeMetricFamily("stepwise_db_pool_size", "Connections the request path's pool keeps", value=size)
            yield GaugeMetricFamily("stepwise_db_pool_in_use", "Pooled connections lent out now", value=in_use)
        yield GaugeMetricFamily(
            "stepwise_db_pool_waiting", "Requests waiting now for a pooled connection", value=transaction.waiting
        )

    def _webhooks(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            "stepwise_webhook_attempts", "Webhook delivery attempts by this replica, by outcome", labels=["outcome"]
        )
        deliverer = self.state.deliverer
        for outcome, count in sorted((deliverer.outcomes if deliverer else {}).items()):
            attempts.add_metric([outcome], count)
        yield attempts
        if self.webhook_queue is None:
            return
        pending, oldest = self.webhook_queue
        yield GaugeMetricFamily(
            "stepwise_webhook_queue_depth", "Webhook deliveries pending, every replica's", value=pending
        )
        age = 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        yield GaugeMetricFamily(
            "stepwise_webhook_oldest_pending_seconds", "Age of the oldest pending webhook message", value=age
        )


def registry_for(state: AppState, webhook_queue: tuple[int, datetime | None] | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(state, webhook_queue))
    ProcessCollector(registry=registry)  # process_*: memory, CPU, open files, start time
    return registry


async def _webhook_queue(state: AppState) -> tuple[int, datetime | None] | None:
    """The webhook queue's depth and oldest message, or None if the database does not answer
    within a second (the rest of /metrics needs no database, and answers anyway)."""
    with anyio.move_on_after(1.0):
        try:
            return await state.transaction.autocommit(queue_state)
        except Exception:
            return None
    return None


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
async def metrics(state: AppStateDep) -> Response:
    # A registry per scrape: scrapes are rare, and the counters live in `state` anyway.
    return Response(generate_latest(registry_for(state, await _webhook_queue(state))), media_type=CONTENT_TYPE_LATEST)
