"""Request bodies for tests, valid unless a test changes them."""

import copy
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
