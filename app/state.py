"""What one running service keeps in memory, typed: `app.state` is one `AppState`.

Everything here is shared by every request of a process; nothing is per partner or per user
except through the stores it names (keys, catalogue answers). Replicas share only the database.
"""

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from app.catalogue.memory import LiveCatalogue
from app.db import Transaction
from app.partners.auth import KeyStore
from app.ratelimits import RateLimits
from app.settings import Settings


class RequestCounts:
    """Answers by (route template, method, status), for `/metrics`: one dict increment a request."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}

    def add(self, answered: tuple[str, str, int]) -> None:
        counts = self.counts
        counts[answered] = counts.get(answered, 0) + 1


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


def state_of(app: Starlette) -> AppState:
    """The app's state, typed (every app `create_app` makes holds one `AppState`)."""
    state = app.state
    assert isinstance(state, AppState), "an app made by app.main.create_app"
    return state
