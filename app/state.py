"""What one running service keeps in memory, typed: `app.state` is one `AppState`.

Everything here is shared by every request of a process; nothing is per partner or per user
except through the stores it names (keys, catalogue answers). Replicas share only the database.
"""

from bisect import bisect_left
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from app.catalogue.memory import LiveCatalogue
from app.content.views import PartnerViews
from app.cors import Origins
from app.db.transactions import Transaction
from app.partners.auth import KeyStore
from app.progress.drawings import DrawnCharts
from app.ratelimits import RateLimits
from app.settings import Settings
from app.webhooks.delivery import Deliverer
from app.webhooks.outbox import Subscriptions

# Upper bounds of the latency histogram's buckets, in seconds (+Inf is implied).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestCounts:
    """Answers by (route template, method, status), and their latency by (route template,
    method) in `LATENCY_BUCKETS`, for `/metrics`: a few dictionary updates a request; the
    Prometheus objects are built only when scraped."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # (route, method) -> [count per bucket (the last one: +Inf)..., sum of seconds]
        self.latency: dict[tuple[str, str], list[float]] = {}

    def add(self, answered: tuple[str, str, int], seconds: float = 0.0) -> None:
        counts = self.counts
        counts[answered] = counts.get(answered, 0) + 1
        key = answered[:2]
        buckets = self.latency.get(key)
        if buckets is None:
            buckets = self.latency[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        buckets[-1] += seconds


@dataclass
class AppState:
    settings: Settings
    # Synchronous, for the start-up load, the periodic jobs and /readyz (in worker threads).
    engine: Engine
    # Asynchronous, for requests: waiting on it holds no thread.
    database: AsyncEngine
    transaction: Transaction
    keys: KeyStore
    limits: RateLimits
    # Swapped whole when a sync (here, on another replica or from the CLI) changes the catalogue.
    catalogue: LiveCatalogue
    # The Alembic revision this code expects; /readyz compares the database's with it.
    migration_head: str | None
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    # Every partner's allowed browser origins (CORS), reloaded every few seconds.
    origins: Origins = field(default_factory=Origins)
    # The partners with exercises or ladders of their own, and their views of the catalogue.
    partner_views: PartnerViews = field(default_factory=PartnerViews)
    # Which event types each partner's webhook endpoints asked for, reloaded every few seconds.
    webhook_subscriptions: Subscriptions = field(default_factory=Subscriptions)
    # Sends this replica's share of the webhook deliveries (started by the lifespan).
    deliverer: Deliverer | None = None
    # Whether the data key that wraps users' keys is loaded (`app.sealing`; at start-up, or later).
    data_keys_loaded: bool = False
    # The progress charts drawn lately, by ETag.
    drawn_charts: DrawnCharts = field(default_factory=DrawnCharts)

    def catalogue_for(self, partner_id: int) -> LiveCatalogue:
        """The catalogue as this partner sees it: the built-in one, plus its own content."""
        return self.partner_views.for_partner(self.catalogue, partner_id)


def state_of(app: Starlette) -> AppState:
    """The app's state, typed (every app `create_app` makes holds one `AppState`)."""
    state = app.state
    assert isinstance(state, AppState), "an app made by app.main.create_app"
    return state
