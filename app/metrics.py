"""`/metrics` in Prometheus text format: requests by route, method and status, and the state a
replica keeps in memory. Counting is a dictionary increment on the request path; the Prometheus
objects are only built when the endpoint is scraped.

With several worker processes (`stepwise serve --workers N`, which sets
`PROMETHEUS_MULTIPROC_DIR`), any worker's scrape answers for all of them: prometheus_client's
multiprocess mode. Each worker writes its counts to its own file in that directory (request
counts as they happen; the rest, `SharedMetrics.publish`, every second and at each scrape), and
the scraped worker adds the files up. Counters and histograms are sums over the workers, the
pool and memory gauges too (`livesum`: live workers only); `stepwise_workers` counts them.
"""

import os
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache

import anyio
from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.dependencies import AppStateDep
from app.state import LATENCY_BUCKETS, AppState, RequestCounts
from app.webhooks.messages import queue_state

router = APIRouter(tags=["operations"])


def multiprocess_directory() -> str | None:
    """Where the workers' metric files are, in multi-worker mode; None with one process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@cache
def shared_metrics() -> "SharedMetrics | None":
    """This worker's metrics in the files the workers share (one set per process), or None
    with one process."""
    return SharedMetrics() if multiprocess_directory() is not None else None


class SharedMetrics:
    """This worker's share of the metrics, in prometheus_client's multiprocess files."""

    def __init__(self) -> None:
        self.requests = Counter(
            "stepwise_http_requests",
            "HTTP requests answered, by route template",
            ["route", "method", "status"],
            registry=None,
        )
        self.latency = Histogram(
            "stepwise_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.rejections = Counter(
            "stepwise_rate_limit_rejections", "Requests refused 429, by policy", ["policy"], registry=None
        )
        self.attempts = Counter(
            "stepwise_webhook_attempts", "Webhook delivery attempts, by outcome", ["outcome"], registry=None
        )
        self.cpu = Counter("process_cpu_seconds", "CPU time of the workers, in seconds", registry=None)

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, registry=None, multiprocess_mode="livesum")

        self.workers = gauge("stepwise_workers", "Worker processes serving")
        self.memory = gauge("process_resident_memory_bytes", "Resident memory of the workers, in bytes")
        self.open_fds = gauge("process_open_fds", "Open file descriptors of the workers")
        self.keys = gauge("stepwise_api_keys_cached", "API keys checked recently and held in memory")
        self.pool_size = gauge("stepwise_db_pool_size", "Connections the request path's pools keep")
        self.pool_in_use = gauge("stepwise_db_pool_in_use", "Pooled connections lent out now")
        self.pool_waiting = gauge("stepwise_db_pool_waiting", "Requests waiting now for a pooled connection")
        self._published: dict[tuple[Counter, str], float] = {}  # counters' totals as last written
        self._process = ProcessCollector(registry=None)

    def _add_up_to(self, counter: Counter, label: str, total: float) -> None:
        """Counters here are totals kept elsewhere: write what was added since the last time."""
        key = (counter, label)
        delta = total - self._published.get(key, 0.0)
        if delta > 0:
            (counter.labels(label) if label else counter).inc(delta)
            self._published[key] = total

    def publish(self, state: AppState) -> None:
        """Write this worker's rejections, attempts and gauges."""
        self.workers.set(1)
        for policy, count in list(state.limits.rejections.items()):
            self._add_up_to(self.rejections, policy, count)
        deliverer = state.deliverer
        for outcome, count in list((deliverer.outcomes if deliverer else {}).items()):
            self._add_up_to(self.attempts, outcome, count)
        self.keys.set(state.keys.size())
        pool = state.transaction.pool_state()
        if pool is not None:
            self.pool_size.set(pool[0])
            self.pool_in_use.set(pool[1])
        self.pool_waiting.set(state.transaction.waiting)
        for family in self._process.collect():
            for sample in family.samples:
                if sample.name == "process_resident_memory_bytes":
                    self.memory.set(sample.value)
                elif sample.name == "process_open_fds":
                    self.open_fds.set(sample.value)
                elif sample.name == "process_cpu_seconds_total":
                    self._add_up_to(self.cpu, "", sample.value)

    @staticmethod
    def leave() -> None:
        """This worker stops: its gauges no longer count (its counters still do)."""
        with suppress(Exception):
            multiprocess.mark_process_dead(os.getpid())


class SharedRequestCounts(RequestCounts):
    """Request counts written to the multiprocess files as they happen (a histogram cannot be
    written later in one go): about 5 µs a request, against 0.4 µs for the dictionary alone."""

    def __init__(self, shared: SharedMetrics) -> None:
        super().__init__()
        self._requests = shared.requests
        self._latency = shared.latency

    def add(self, answered: tuple[str, str, int], seconds: float = 0.0) -> None:
        route, method, status = answered
        self._requests.labels(route, method, str(status)).inc()
        self._latency.labels(route, method).observe(seconds)


class _Collector(Collector):
    """What one process knows: everything with one process; with several workers, only what
    is not in the shared files (the catalogue served, the webhook queue read from the database)."""

    def __init__(
        self, state: AppState, webhook_queue: tuple[int, datetime | None] | None = None, *, shared: bool = False
    ) -> None:
        self.state = state
        self.webhook_queue = webhook_queue  # None: the database did not answer in time
        self.shared = shared

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily(
            "stepwise_catalogue", "The catalogue version served", value={"version": self.state.catalogue.version or ""}
        )
        yield from self._webhook_queue()
        if self.shared:
            return
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

    def _webhook_queue(self) -> Iterator[Metric]:
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
    directory = multiprocess_directory()
    registry.register(_Collector(state, webhook_queue, shared=directory is not None))
    if directory is None:
        ProcessCollector(registry=registry)  # process_*: memory, CPU, open files, start time
    else:
        shared = shared_metrics()
        if shared is not None:
            shared.publish(state)  # this worker's own figures as of now
        multiprocess.MultiProcessCollector(registry, path=directory)
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
