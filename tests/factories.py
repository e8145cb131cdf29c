"""Request bodies for tests, valid unless a test changes them, and a free port for servers they start."""

import copy
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)

VALID_SESSION: dict[str, Any] = {
    "exercise": "reverse-lunge",
    "performed_at": "2026-11-20T07:30:00+01:00",
    "target_dose": 8,
    "sets": [{"dose": 8}, {"dose": 8}, {"dose": 6}],
    "rpe": 5,
    "pain": {"before": 2, "during": 3, "after": 2, "next_morning": None},
    "support_used": False,
    "faults": ["hips_uneven"],
    "red_flags": [],
    "duration_seconds": 540,
    "notes": "felt fine",
}


def session_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID_SESSION)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def at(minutes: int) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
