"""Log lines: every logger (uvicorn's too) through one handler on stderr, as text or JSON."""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from app.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Every logger (uvicorn's too) through one handler on stderr, as text or as JSON lines
    (python-json-logger; a request line carries its fields as keys)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level"},
                # uvicorn's records carry their message twice, once with terminal colours.
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
