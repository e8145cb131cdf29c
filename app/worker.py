"""What each process of `stepwise serve` imports, by name (uvicorn's import strings, which are
what let it start `--workers N` processes): the app and the HTTP protocol, both configured from
the environment the serving command was given."""

from app.edge import GuardedHttpTools, TrustedProxies
from app.logs import configure_logging
from app.main import StepwiseAPI
from app.main import create_app as _create_app
from app.settings import get_settings

_settings = get_settings()
configure_logging(_settings)  # a worker is a new process: it has none of the parent's set-up


class HttpTools(GuardedHttpTools):
    head_timeout = _settings.head_timeout
    body_timeout = _settings.body_timeout
    max_per_client = _settings.max_connections_per_client
    trusted = TrustedProxies(_settings.forwarded_allow_ips)


def create_app() -> StepwiseAPI:
    return _create_app(_settings)
