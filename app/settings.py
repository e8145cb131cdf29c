"""Service configuration, read once from the environment (pydantic-settings)."""

import difflib
import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db.engines import CONNECT_TIMEOUT_SECONDS, POOL_TIMEOUT_SECONDS, STATEMENT_TIMEOUT_SECONDS, EngineOptions
from app.sealing.crypto import DataKeys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPWISE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./stepwise.db",
        validation_alias=AliasChoices("DATABASE_URL", "STEPWISE_DATABASE_URL"),
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    # One log line per request (method, route template, status, duration, request id, partner
    # id); and the log format: `text` for a terminal, `json` (one object per line) for a collector.
    access_log: bool = False
    log_format: Literal["text", "json"] = "text"
    # The HTTP edge (app.edge): seconds for a request head to arrive, and the longest pause in a
    # request body, before 408; open connections (and requests) at most, past which uvicorn
    # answers 503 (a file-descriptor and memory bound).
    head_timeout: float = Field(default=10.0, gt=0, le=300)
    body_timeout: float = Field(default=15.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    # Open connections from one client address, per worker; past it, 503 at once.
    max_connections_per_client: int = Field(default=64, ge=1, le=100_000)
    # The reverse proxies whose `X-Forwarded-For` is believed (IPs or networks, comma-separated;
    # `*` any). Unset: none, 127.0.0.1 included, and each client is its peer address.
    forwarded_allow_ips: str = Field(
        default="", validation_alias=AliasChoices("FORWARDED_ALLOW_IPS", "STEPWISE_FORWARDED_ALLOW_IPS")
    )
    # Processes serving on the one port (`stepwise serve --workers N`). Each has its own
    # database pools (up to db_pool_size + 2 connections) and, without Redis, an equal share of
    # each rate limit.
    workers: int = Field(default=1, ge=1, le=64)
    # Database connections per replica (PostgreSQL); requests beyond it wait for a free one.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # Server-side prepared statements (psycopg prepares a statement run five times). Turn off
    # behind a pgbouncer in transaction pooling mode older than 1.21, which cannot route them.
    db_prepared_statements: bool = True
    # Seconds before giving up (the request then answers 503 with Retry-After): opening a
    # PostgreSQL connection; waiting for a free pooled connection; one request's database work
    # once it has a connection (PostgreSQL; SQLite waits at most 5 s for its write lock).
    db_connect_timeout: float = Field(default=CONNECT_TIMEOUT_SECONDS, ge=2, le=60)
    db_pool_timeout: float = Field(default=POOL_TIMEOUT_SECONDS, gt=0, le=60)
    db_statement_timeout: float = Field(default=STATEMENT_TIMEOUT_SECONDS, gt=0, le=300)
    # At start-up, how long to wait for PostgreSQL to answer (retrying with backoff) before giving up.
    db_wait_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How long a checked API key is trusted before the database is asked again; bounds how long
    # a key revoked elsewhere (another replica, the CLI) keeps working here.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=10)
    # While the database cannot be reached, a key checked valid within this many seconds keeps
    # working (for the answers that need no database: catalogue, evaluate); 0 turns it off.
    key_stale_seconds: float = Field(default=300.0, ge=0, le=3600)
    # Requests per minute per partner (all its keys), unless set for the partner with
    # `stepwise partners set-rate-limit`; and failed authentications per minute per client
    # address (behind a proxy, set uvicorn's FORWARDED_ALLOW_IPS so the address is the client's).
    rate_limit_per_minute: int = Field(default=6000, ge=1, le=10_000_000)
    auth_failures_per_minute: int = Field(default=60, ge=1, le=1_000_000)
    # Rate-limit counts in Redis (shared by every replica) instead of in each replica's memory.
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "STEPWISE_REDIS_URL"))
    # Partners' own content: exercises and ladders each partner may publish, and the largest
    # request body (so the largest document) a write of one may send, in KiB.
    content_max_exercises: int = Field(default=500, ge=0, le=100_000)
    content_max_ladders: int = Field(default=100, ge=0, le=10_000)
    content_max_document_kib: int = Field(default=64, ge=1, le=8192)
    # How many replicas share that Redis: while it cannot be reached, each worker of each replica
    # enforces quota / (replicas × workers) in its own memory.
    replicas: int = Field(default=1, ge=1, le=10_000)
    # The secret that signs user tokens (at least 32 characters; the same on every replica).
    # Unset: the deployment makes one on first start and keeps it in its database.
    token_secret: SecretStr | None = None
    # The data key that wraps each user's key, which seals their free text at rest (base64 of 32
    # random bytes, the same on every replica; comma-separated, the first wraps and the others
    # still unwrap). Unset: the deployment makes one on first start and keeps it in its database.
    data_key: SecretStr | None = None
    # How often each replica checks whether the catalogue was re-synced by someone else.
    catalogue_refresh_seconds: float = Field(default=10.0, gt=0)
    # Webhook URLs may be `http` and reach private, loopback and link-local addresses: for
    # development and tests only (in production a partner could aim deliveries inside the network).
    webhooks_allow_private: bool = False
    # Seconds between a webhook delivery's attempts, comma-separated (for tests); the standard schedule without it.
    webhook_retry_seconds: str | None = None
    # How long a claimed delivery is a replica's before another may send it (should that replica die).
    webhook_lease_seconds: float = Field(default=300.0, gt=0)

    def engine_options(self) -> EngineOptions:
        """The keyword arguments `app.db.make_engine` and `make_async_engine` take from here."""
        return {
            "prepared_statements": self.db_prepared_statements,
            "connect_timeout": self.db_connect_timeout,
            "pool_timeout": self.db_pool_timeout,
        }

    @field_validator("database_url")
    @classmethod
    def use_psycopg_driver(cls, url: str) -> str:
        """Accept the usual `postgres://` spellings and run them on psycopg 3."""
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        if not url.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("DATABASE_URL must be a sqlite:// or postgresql:// URL")
        return url

    @field_validator("forwarded_allow_ips")
    @classmethod
    def addresses(cls, listed: str) -> str:
        for item in (item.strip() for item in listed.split(",")):
            if item and item != "*":
                ipaddress.ip_network(item, strict=False)  # a ValueError names the bad one
        return listed

    @field_validator("redis_url")
    @classmethod
    def redis_scheme(cls, url: str | None) -> str | None:
        if url and not url.startswith(("redis://", "rediss://", "redis+unix://", "async+redis")):
            raise ValueError("REDIS_URL must be a redis://, rediss:// or redis+unix:// URL")
        try:
            _ = urlsplit(url or "").port  # a port that is not a number fails here, not in the limiter
        except ValueError:
            raise ValueError("REDIS_URL has a malformed host or port") from None
        return url or None

    @field_validator("token_secret")
    @classmethod
    def long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("STEPWISE_TOKEN_SECRET must be at least 32 characters")  # never the value itself
        return secret

    @field_validator("data_key")
    @classmethod
    def data_keys(cls, listed: SecretStr | None) -> SecretStr | None:
        if listed is not None:
            DataKeys.parse(listed.get_secret_value())  # a ValueError says what a key is, never the value
        return listed

    @field_validator("log_level", mode="before")
    @classmethod
    def lower_case_level(cls, level: str) -> str:
        return level.lower() if isinstance(level, str) else level


def variable_of(field: str) -> str:
    """The environment variable a person sets for the setting `field` (e.g. STEPWISE_LOG_LEVEL)."""
    aliases = getattr(Settings.model_fields[field].validation_alias, "choices", None)
    return str(aliases[0]) if aliases else f"STEPWISE_{field.upper()}"


def _variables() -> set[str]:
    """Every variable a setting is read from (each alias too)."""
    found = set()
    for name, field in Settings.model_fields.items():
        found.add(f"STEPWISE_{name.upper()}")
        found.update(str(alias) for alias in getattr(field.validation_alias, "choices", None) or ())
    return found


# The test suite's and the benchmarks' own variables, read by them, not by the service.
_NOT_SETTINGS = ("STEPWISE_TEST_", "STEPWISE_BENCH_", "STEPWISE_SCREENSHOTS")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each `STEPWISE_*` variable that is no setting (a typo is otherwise silently
    ignored), with the closest one when there is one."""
    known = _variables()
    lines = []
    ours = sorted(v for v in environ if v.startswith("STEPWISE_") and not v.startswith(_NOT_SETTINGS))
    for variable in (v for v in ours if v not in known):
        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{variable} is not a setting, and is ignored{hint}")
    return lines


def configuration_problems(error: ValidationError) -> list[str]:
    """Each problem with the settings, named by the variable a person sets (not the field)."""
    lines = []
    for problem in error.errors():
        where = str(problem["loc"][0]) if problem["loc"] else ""
        variable = variable_of(where) if where in Settings.model_fields else where or "settings"
        lines.append(f"{variable}: {problem['msg']}")
    return lines


@lru_cache
def get_settings() -> Settings:
    return Settings()
