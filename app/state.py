"""What one running service keeps in memory, typed: `app.state` is one `AppState`.

Everything here is shared by every request of a process; nothing is per partner or per user
except through the stores it names (keys, catalogue answers). Replicas share only the database.
"""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from app.catalogue.memory import LiveCatalogue
from app.db import Transaction
from app.metrics import RequestCounts
from app.partners.auth import KeyStore
from app.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    transaction: Transaction
    keys: KeyStore
    # Swapped whole when a sync (here, on another replica or from the CLI) changes the catalogue.
    catalogue: LiveCatalogue
    # The Alembic revision this code expects; /readyz compares the database's with it.
    migration_head: str | None
    request_counts: RequestCounts = field(default_factory=RequestCounts)
    metrics_registry: CollectorRegistry | None = None
