"""The stored path reads only part of a history (`app.recommendations.history`); whatever the
history, its answer equals evaluate's on the whole history, on the built-in ladder and on a
partner's ladders whose short streaks and long rests make the stored path read in every way it
can (a longer block, severe pain older than the block, the restart after it). Random histories mix ladder and
other exercises, back-filled sessions, severe pain, red flags and clearances recorded before and
after them, sent in random order through the API."""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.progression.ladder import positions
from tests.content import LADDER, LADDER_EXERCISES, OFF_LADDER, SAFETY_CODES
from tests.factories import session_body

pytestmark = pytest.mark.through_pgbouncer

KEY_SCOPES = "catalogue:read,catalogue:write,sessions:read,sessions:write"
# Every threshold at its smallest, so the stored path's first read holds 3 sessions.
SHORT_LADDER = {
    "slug": "short-lunges",
    "name": "Short lunge ladder",
    "goal": "A ladder whose rules look only a session or two back.",
    "rules": {
        "streak": 1,
        "easy_rpe": 4,
        "pain_ok": 3,
        "pain_limit": 5,
        "pain_stop": 8,
        "flare_margin": 1,
        "incomplete_streak": 1,
        "fault_streak": 1,
        "break_days": 3,
        "min_rest_hours": 20,
    },
    "steps": [
        {"exercise": "half-squat-hold", "sets": 2, "start": 5, "target": 10, "increment": 5, "support": "optional"},
        {"exercise": "reverse-lunge", "sets": 2, "start": 6, "target": 10, "increment": 2, "support": "none"},
        {"exercise": "lateral-reverse-lunge", "sets": 2, "start": 6, "target": 8, "increment": 2, "support": "none"},
    ],
}
# A week between the sessions that count: practising daily, the window reaches past the first read.
WEEKLY_LADDER = SHORT_LADDER | {
    "slug": "weekly-lunges",
    "name": "Weekly lunge ladder",
    "rules": SHORT_LADDER["rules"] | {"streak": 2, "min_rest_hours": 168, "break_days": 14},
}
GAPS_HOURS = [0.25, 6, 12, 20, 24, 30, 48, 72, 24 * 10, 24 * 20]


@pytest.fixture
def headers(client, make_key):
    headers = {"Authorization": f"Bearer {make_key(KEY_SCOPES)}"}
    for ladder in (SHORT_LADDER, WEEKLY_LADDER):
        assert client.post("/v1/progressions", json=ladder, headers=headers).status_code == 201
    return headers


SHORT = [step["exercise"] for step in SHORT_LADDER["steps"]]
event = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("session"),
            "again": st.sampled_from([False, True, True]),  # the same exercise and dose as the session before
            "exercise": st.sampled_from([*SHORT, *SHORT, *LADDER_EXERCISES, OFF_LADDER]),
            "named": st.sampled_from([None, None, None, None, "short-lunges", "weekly-lunges", "lunge-ladder"]),
            "dose": st.sampled_from([1, 4, 5, 6, 6, 8, 8, 10, 10, 12, 16]),
            "gap": st.sampled_from(GAPS_HOURS),
            "backfill": st.sampled_from([0] * 8 + [1, 3]),  # days earlier than the time line says
            "rpe": st.sampled_from([None, 2, 3, 4, 4, 6]),
            "before": st.sampled_from([None, None, 0, 1, 2, 6]),
            "during": st.sampled_from([0, 1, 1, 2, 2, 3, 3, 4, 6]),
            "after": st.sampled_from([None, None, None, 1, 2, 6]),
            "next_morning": st.sampled_from([None, None, 0, 1, 2, 5]),
            # Now and then, pain at the stop level at one of the four times.
            "severe": st.sampled_from([None] * 26 + ["before", "during", "after", "next_morning"]),
            "short": st.sampled_from([False] * 6 + [True]),
            "faults": st.sampled_from([[], [], [], ["spine_bending"]]),
            "support": st.sampled_from([False] * 5 + [True]),
            "red_flags": st.sampled_from([[]] * 46 + [[code] for code in SAFETY_CODES[:4]]),
            "legs": st.sampled_from([None] * 6 + [("none", "below_knee"), ("above_knee", "above_knee")]),
        }
    ),
    st.fixed_dictionaries({"kind": st.just("clearance"), "hours_ago": st.sampled_from([0, 0, 24, 24 * 7, 24 * 40])}),
)


def _session(item, at: datetime) -> dict:
    exercise, named = item["exercise"], item["named"]
    if named in ("short-lunges", "weekly-lunges") and exercise not in SHORT:
        named = None
    if named == "lunge-ladder" and exercise not in LADDER_EXERCISES:
        named = None
    faults = item["faults"] if exercise != OFF_LADDER else []
    severe = {item["severe"]: 8 + item["dose"] % 3} if item["severe"] else {}
    sets = [item["dose"] - 1] if item["short"] else [item["dose"]] * 3
    body = session_body(
        exercise=exercise,
        progression=named,
        target_dose=item["dose"],
        sets=[{"dose": max(d, 0)} for d in sets],
        performed_at=at.isoformat(),
        rpe=item["rpe"],
        pain={k: item[k] for k in ("before", "during", "after", "next_morning")} | severe,
        support_used=item["support"],
        faults=faults,
        red_flags=item["red_flags"],
        notes=None,
    )
    if item["legs"]:
        body["leg_symptoms"] = {"before": item["legs"][0], "after": item["legs"][1]}
    return body


# STEPWISE_PROPERTY_EXAMPLES raises the number of histories tried (25 by default, to keep CI short).
@settings(
    max_examples=int(os.environ.get("STEPWISE_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(event, min_size=1, max_size=40),
    as_of_hours=st.sampled_from([-24 * 5, -30, 0, 0, 0, 2, 2, 24 * 2, 24 * 8]),
)
def test_the_stored_answer_equals_evaluate_on_the_whole_history(client, headers, events, as_of_hours):
    user = f"u-{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    # The time line runs back from an hour ago; sessions are sent in the order of the events.
    total = sum(e["gap"] for e in events if e["kind"] == "session")
    at = now - timedelta(hours=1 + total)
    sent, clearances = [], []
    previous = None
    for item in events:
        if item["kind"] == "clearance":
            cleared_at = (now - timedelta(hours=item["hours_ago"])).isoformat()
            answer = client.post(f"/v1/users/{user}/clearances", json={"cleared_at": cleared_at}, headers=headers)
            assert answer.status_code == 201, answer.text
            stored = answer.json()
            clearances.append({"cleared_at": stored["cleared_at"], "recorded_at": stored["received_at"]})
            continue
        at += timedelta(hours=item["gap"])
        if item["again"] and previous is not None:
            item = item | {"exercise": previous["exercise"], "named": previous["named"], "dose": previous["dose"]}
        previous = item
        body = _session(item, at - timedelta(days=item["backfill"]))
        answer = client.post(f"/v1/users/{user}/sessions", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        stored = answer.json()
        sent.append(body | {"id": stored["id"], "received_at": stored["received_at"]})
    as_of = (now + timedelta(hours=as_of_hours)).isoformat()
    for ladder in ("lunge-ladder", "short-lunges", "weekly-lunges"):
        from_store = client.get(
            f"/v1/users/{user}/recommendation", params={"progression": ladder, "as_of": as_of}, headers=headers
        )
        evaluated = client.post(
            "/v1/recommendations/evaluate",
            json={"progression": ladder, "as_of": as_of, "sessions": sent, "clearances": clearances},
            headers=headers,
        )
        assert from_store.status_code == evaluated.status_code == 200, (from_store.text, evaluated.text)
        assert from_store.json() == evaluated.json()
        _check_invariants(from_store.json(), ladder == "lunge-ladder")


def _check_invariants(answer: dict, built_in: bool) -> None:
    """`unmet` only and always on keep_practising; every move one position but a break's or form faults'."""
    for reason in answer["reasons"]:
        assert bool(reason["unmet"]) == (reason["code"] == "keep_practising")
    if not built_in or answer["action"] in ("pause", "start", "repeat"):
        return
    grid = [(LADDER.steps[i].exercise, dose) for i, dose in positions(LADDER)]
    here = grid.index((answer["current"]["exercise"], answer["current"]["dose"]))
    there = grid.index((answer["next"]["exercise"], answer["next"]["dose"]))
    if answer["reasons"][0]["code"] not in ("break", "form_faults"):
        assert abs(there - here) == 1


def _both(client, headers, user: str, ladder: str, sent: list[dict]) -> dict:
    """The stored answer, checked equal to evaluate's on the same sessions."""
    stored = client.get(f"/v1/users/{user}/recommendation", params={"progression": ladder}, headers=headers).json()
    body = {"progression": ladder, "as_of": stored["as_of"], "sessions": sent}
    assert client.post("/v1/recommendations/evaluate", json=body, headers=headers).json() == stored
    return stored


def _post_daily(client, headers, user: str, days: range, **changes) -> list[dict]:
    """A session a day, `days` counting back from today; complete and easy unless `changes` say otherwise."""
    now = datetime.now(UTC)
    sent = []
    for day in days:
        easy = {
            "sets": [{"dose": changes.get("target_dose", 8)}] * 3,
            "rpe": 3,
            "pain": {"during": 1, "next_morning": 1},
        }
        body = session_body(performed_at=(now - timedelta(days=day)).isoformat(), faults=[], **(easy | changes))
        answer = client.post(f"/v1/users/{user}/sessions", json=body, headers=headers).json()
        sent.append(body | {"id": answer["id"], "received_at": answer["received_at"]})
    return sent


def test_a_window_reaching_past_the_first_read_is_read_in_full(client, headers):
    """On the weekly ladder a daily session is taken into the window without counting, so the
    walk passes the first read's five sessions: the stored path reads the latest 50."""
    sent = _post_daily(client, headers, "daily", range(12, 0, -1), exercise="reverse-lunge", target_dose=8)
    answer = _both(client, headers, "daily", "weekly-lunges", sent)
    assert answer["reasons"][0]["code"] == "ready_to_progress" and len(answer["reasons"][0]["session_ids"]) == 8


def test_severe_pain_far_behind_the_latest_sessions_and_its_restart_are_read(client, headers):
    """Severe pain 20 sessions back, then a restart a day later, then sessions above it: the
    stored path finds the restart far behind its first block, as evaluate does."""
    painful = {"exercise": "reverse-lunge", "target_dose": 8, "pain": {"during": 9}}
    sent = _post_daily(client, headers, "restarted", range(22, 21, -1), **painful)
    sent += _post_daily(client, headers, "restarted", range(21, 0, -1), exercise="half-squat-hold", target_dose=30)
    assert _both(client, headers, "restarted", "lunge-ladder", sent)["action"] != "pause"
    # Without a restart (every session since above the restart position), the pause holds.
    sent = _post_daily(client, headers, "ignored", range(22, 21, -1), **painful)
    sent += _post_daily(client, headers, "ignored", range(21, 0, -1), exercise="reverse-lunge", target_dose=10)
    answer = _both(client, headers, "ignored", "lunge-ladder", sent)
    assert (answer["action"], answer["resume"]["exercise"]) == ("pause", "supported-reverse-lunge")


def test_a_restart_far_behind_is_found_past_earlier_low_sessions(client, headers):
    """Started on step 1 weeks ago; severe pain on the reverse lunge; restarted a day later at
    the supported lunge's start, as told; then five days a step up. The restart is older than
    the first read's block, and the step-1 session before the pain must not hide it."""
    sent = _post_daily(client, headers, "natural", range(19, 18, -1), exercise="half-squat-hold", target_dose=30)
    sent += _post_daily(client, headers, "natural", range(10, 9, -1), exercise="reverse-lunge", target_dose=8)
    sent += _post_daily(
        client, headers, "natural", range(9, 8, -1), **{"exercise": "reverse-lunge", "pain": {"during": 9}}
    )
    sent += _post_daily(client, headers, "natural", range(7, 6, -1), exercise="supported-reverse-lunge", target_dose=4)
    sent += _post_daily(client, headers, "natural", range(5, 0, -1), exercise="supported-reverse-lunge", target_dose=6)
    assert _both(client, headers, "natural", "lunge-ladder", sent)["action"] != "pause"


def test_a_restart_on_a_step_of_one_dose_is_found(client, headers):
    """A step whose start is its target: every session of it is at its start."""
    one_dose = SHORT_LADDER | {
        "slug": "one-dose-first",
        "steps": [
            {
                "exercise": "half-squat-hold",
                "sets": 3,
                "start": 10,
                "target": 10,
                "increment": 5,
                "support": "optional",
            },
            {"exercise": "reverse-lunge", "sets": 3, "start": 6, "target": 10, "increment": 2, "support": "none"},
        ],
    }
    assert client.post("/v1/progressions", json=one_dose, headers=headers).status_code == 201
    painful = {"exercise": "reverse-lunge", "target_dose": 8, "pain": {"during": 9}, "progression": "one-dose-first"}
    sent = _post_daily(client, headers, "one-dose", range(9, 8, -1), **painful)
    sent += _post_daily(client, headers, "one-dose", range(8, 7, -1), exercise="half-squat-hold", target_dose=15)
    sent += _post_daily(client, headers, "one-dose", range(7, 0, -1), exercise="reverse-lunge", target_dose=6)
    assert _both(client, headers, "one-dose", "one-dose-first", sent)["action"] != "pause"
