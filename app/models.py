"""Every table of the service, imported in one place so Alembic sees the whole metadata."""

from app.catalogue import tables as catalogue_tables  # noqa: F401
from app.clearances import tables as clearance_tables  # noqa: F401
from app.content import tables as content_tables  # noqa: F401
from app.db import secrets as secret_tables  # noqa: F401
from app.db.types import metadata
from app.idempotency import tables as idempotency_tables  # noqa: F401
from app.partners import tables as partner_tables  # noqa: F401
from app.progress import tables as progress_tables  # noqa: F401
from app.sealing import tables as sealing_tables  # noqa: F401
from app.sessions import tables as session_tables  # noqa: F401
from app.webhooks import tables as webhook_tables  # noqa: F401

__all__ = ["metadata"]
