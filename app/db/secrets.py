"""Secrets the deployment makes for itself on first start and keeps in its database, shared by
its replicas: the key that signs user tokens and the data key that wraps users' keys (each
unless configured)."""

import secrets
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, DateTime, select
from sqlmodel import Field, SQLModel, col

from app.db.types import insert_skipping_conflicts


def _now() -> datetime:
    return datetime.now(UTC)


class DeploymentSecret(SQLModel, table=True):
    __tablename__ = "deployment_secret"

    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))


def stored_secret(connection: Connection, name: str, *, random_bytes: int) -> str:
    """The deployment's secret `name`, made here (URL-safe base64 of `random_bytes` random bytes)
    if there is none yet; replicas racing to make it keep the one stored first. Committed by
    the caller's transaction."""
    table = DeploymentSecret.__table__  # type: ignore[attr-defined]
    made = {"name": name, "value": secrets.token_urlsafe(random_bytes), "created_at": _now()}
    connection.execute(insert_skipping_conflicts(connection.dialect.name, table, ["name"]).values(made))
    return connection.execute(
        select(col(DeploymentSecret.value)).where(col(DeploymentSecret.name) == name)
    ).scalar_one()
