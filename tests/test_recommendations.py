"""Recommendation endpoints: stored history and stateless evaluate give the same answers."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.sessions.tables import SessionRow
from tests.content import OFF_LADDER, SEE_CLINICIAN
from tests.factories import session_body

# The PostgreSQL half runs once more through pgbouncer (transaction pooling): see conftest.
pytestmark = pytest.mark.through_pgbouncer

WRITE = "sessions:read,sessions:write"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def headers(auth):
    return auth(WRITE + ",catalogue:read")


def body(minute, **changes):
    """A complete reverse-lunge session (3 x 8), `minute`s after T0."""
    base = dict(sets=[{"dose": 8}] * 3, faults=[], performed_at=(T0 + timedelta(minutes=minute)).isoformat())
    return session_body(**(base | changes))


def evaluate(client, headers, sessions, **extra):
    return client.post(
        "/v1/recommendations/evaluate",
        json={"progression": "lunge-ladder", "sessions": sessions, **extra},
        headers=headers,
    )


def test_user_without_sessions_starts(client, headers):
    answer = client.get("/v1/users/new-user/recommendation?progression=lunge-ladder", headers=headers).json()
    assert answer["action"] == "start" and answer["current"] is None
    assert answer["next"] == {
        "step": 1,
        "exercise": "half-squat-hold",
        "sets": 3,
        "dose": 5,
        "unit": "seconds",
        "support": "optional",
    }
    assert answer["reasons"][0]["code"] == "no_history" and answer["progression"] == "lunge-ladder"
    assert answer["reasons"][0]["unmet"] == [] and answer["resume"] is None
    assert re.fullmatch(r"3\.[0-9a-f]{16}", answer["rules_version"]) and answer["as_of"].endswith("Z")


# The worked example: Monday 18:00 and Tuesday 18:30, reverse lunge 3 x 8.
MONDAY = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)


def worked(second_at=MONDAY + timedelta(hours=24, minutes=30), first_morning=1, second_during=1):
    return [
        session_body(
            performed_at=MONDAY.isoformat(),
            sets=[{"dose": 8}] * 3,
            faults=[],
            rpe=4,
            pain={"before": 1, "during": 2, "next_morning": first_morning},
        ),
        session_body(
            performed_at=second_at.isoformat(), sets=[{"dose": 8}] * 3, faults=[], rpe=3, pain={"during": second_during}
        ),
    ]


@pytest.mark.parametrize(
    ("history", "action", "next_dose", "code", "unmet"),
    [
        (worked(), "increase_dose", 10, "ready_to_progress", []),
        (worked(second_at=MONDAY + timedelta(hours=3)), "repeat", 8, "keep_practising", ["too_soon"]),
        (worked(first_morning=None), "repeat", 8, "keep_practising", ["next_morning_missing"]),
        (worked(second_during=6), "decrease_dose", 6, "pain_above_limit", []),
    ],
)
def test_worked_example_from_stored_history_and_from_evaluate(client, headers, history, action, next_dose, code, unmet):
    user = f"w-{uuid.uuid4().hex[:8]}"
    ids = [client.post(f"/v1/users/{user}/sessions", json=b, headers=headers).json()["id"] for b in history]
    as_of = (MONDAY + timedelta(days=2)).isoformat()
    stored = client.get(
        f"/v1/users/{user}/recommendation", params={"progression": "lunge-ladder", "as_of": as_of}, headers=headers
    ).json()
    assert (stored["action"], stored["next"]["dose"], stored["next"]["sets"]) == (action, next_dose, 3)
    reason = stored["reasons"][0]
    assert (reason["code"], reason["unmet"]) == (code, unmet)
    assert reason["session_ids"] == (ids if code in ("ready_to_progress", "keep_practising") else ids[-1:])
    assert stored["current"]["dose"] == 8 and stored["as_of"] == as_of.replace("+00:00", "Z")
    stateless = evaluate(
        client, headers, [b | {"id": i} for b, i in zip(history, ids, strict=True)], as_of=as_of
    ).json()
    assert stateless == stored


def test_evaluate_names_sessions_by_id_or_index(client, headers):
    first, second = worked()
    answer = evaluate(
        client, headers, [first | {"id": "mine-1"}, second], as_of=(MONDAY + timedelta(days=2)).isoformat()
    ).json()
    assert answer["action"] == "increase_dose" and answer["reasons"][0]["session_ids"] == ["mine-1", "#1"]


def _off_ladder_session(performed_at: datetime, **changes) -> dict:
    """A session of an exercise on no ladder step (one set of 10), clear unless `changes` say otherwise."""
    return session_body(
        exercise=OFF_LADDER,
        target_dose=10,
        sets=[{"dose": 10}],
        faults=[],
        performed_at=performed_at.isoformat(),
        **changes,
    )


def test_red_flag_on_another_exercise_pauses_the_stored_ladder_until_a_clearance_covers_it(client, headers):
    for b in worked():
        client.post("/v1/users/rf/sessions", json=b, headers=headers)
    later = MONDAY + timedelta(days=1, hours=2)
    flagged = client.post(
        "/v1/users/rf/sessions", headers=headers, json=_off_ladder_session(later, red_flags=[SEE_CLINICIAN])
    ).json()
    at_the_time = {"progression": "lunge-ladder", "as_of": (MONDAY + timedelta(days=2)).isoformat()}
    answer = client.get("/v1/users/rf/recommendation", params=at_the_time, headers=headers).json()
    assert (answer["action"], answer["next"], answer["resume"]) == ("pause", None, None)
    assert answer["reasons"][0]["code"] == "red_flag" and answer["reasons"][0]["session_ids"] == [flagged["id"]]
    assert (
        answer["current"]["exercise"] == "reverse-lunge"
        and "doctor or physiotherapist" in answer["reasons"][0]["message"]
    )
    # A later session without a flag does not end the pause (rules v3); a clearance does, from when it is recorded.
    client.post("/v1/users/rf/sessions", headers=headers, json=_off_ladder_session(later + timedelta(minutes=30)))
    now = {"progression": "lunge-ladder"}
    assert client.get("/v1/users/rf/recommendation", params=now, headers=headers).json()["action"] == "pause"
    cleared = {"cleared_at": (later + timedelta(days=1)).isoformat()}
    assert client.post("/v1/users/rf/clearances", json=cleared, headers=headers).status_code == 201
    assert (
        client.get("/v1/users/rf/recommendation", params=now, headers=headers).json()["reasons"][0]["code"]
        != "red_flag"
    )
    assert client.get("/v1/users/rf/recommendation", params=at_the_time, headers=headers).json()["action"] == "pause"


def test_the_most_urgent_red_flag_decides_the_message(client, headers):
    flagged = session_body(performed_at=MONDAY.isoformat(), red_flags=["fever_or_unwell", "bladder_bowel_change"])
    answer = evaluate(client, headers, [flagged], as_of=(MONDAY + timedelta(hours=1)).isoformat()).json()
    message = answer["reasons"][0]["message"]
    assert answer["action"] == "pause" and "emergency department" in message and "local emergency number" in message
    fever = session_body(performed_at=MONDAY.isoformat(), red_flags=["fever_or_unwell"])
    answer = evaluate(client, headers, [fever], as_of=(MONDAY + timedelta(hours=1)).isoformat()).json()
    assert "doctor today" in answer["reasons"][0]["message"]


def test_evaluate_empty_list_starts_and_stores_nothing(client, headers, app):
    assert evaluate(client, headers, []).json()["action"] == "start"
    evaluate(client, headers, [body(0)])
    with Session(app.state.engine) as s:
        assert s.execute(select(func.count()).select_from(SessionRow)).scalar_one() == 0


def test_evaluate_validates_sessions_as_posts_do(client, headers):
    bad = evaluate(client, headers, [body(0), body(1, exercise="moonwalk"), body(2, rpe=11)])
    assert bad.status_code == 422
    locs = [e["loc"] for e in bad.json()["errors"]]
    assert ["body", "sessions", 2, "rpe"] in locs
    fault = evaluate(client, headers, [body(0, faults=["nope"])])
    assert fault.status_code == 422 and fault.json()["errors"][0]["loc"] == ["body", "sessions", 0, "faults", 0]
    assert evaluate(client, headers, [body(0)] * 1001).status_code == 422


def test_unknown_progression_is_404(client, headers):
    assert client.get("/v1/users/u/recommendation?progression=nope", headers=headers).status_code == 404
    assert (
        client.post(
            "/v1/recommendations/evaluate", json={"progression": "nope", "sessions": []}, headers=headers
        ).status_code
        == 404
    )


def test_recommendation_scopes_and_tenancy(client, auth, headers):
    client.post("/v1/users/t/sessions", json=body(0, pain={"during": 9}), headers=headers)
    assert (
        client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=headers).json()["action"] == "pause"
    )
    other = auth(WRITE)
    assert client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=other).json()["action"] == "start"
    assert (
        client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=auth("catalogue:read")).status_code
        == 403
    )
    assert (
        client.post(
            "/v1/recommendations/evaluate", json={"progression": "lunge-ladder"}, headers=auth("sessions:read")
        ).status_code
        == 403
    )


def test_naive_as_of_is_422(client, headers):
    response = client.get(
        "/v1/users/u/recommendation?progression=lunge-ladder&as_of=2026-11-20T07:30:00", headers=headers
    )
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "as_of"]


def test_routine_wraps_the_recommended_step_in_warm_up_and_habit(client, headers):
    routine = client.get("/v1/users/fresh/routine?progression=lunge-ladder", headers=headers).json()
    exercises = [b["exercise"] for b in routine["blocks"]]
    # Step 1 is done standing; its habit is a half squat with a support, an exercise on no ladder step
    # (the lunge habit starts at step 2).
    assert exercises == [
        "standing-glute-squeeze",
        "standing-hip-flexor-stretch",
        "half-squat-hold",
        "supported-half-squat-habit",
    ]
    step = routine["blocks"][2]
    assert (step["sets"], step["dose"], step["unit"]) == (3, 5, "seconds")
    assert routine["recommendation"]["action"] == "start" and routine["duration_minutes"] >= 1
    for block in routine["blocks"]:
        assert set(block) == {"exercise", "sets", "dose", "unit", "rest_seconds", "notes"}
    assert "support" in routine["blocks"][3]["notes"]


def _log_two_easy_days(client, headers, user, **changes):
    now = datetime.now(UTC)
    for hours, morning in ((30, 1), (1, None)):
        client.post(
            f"/v1/users/{user}/sessions",
            headers=headers,
            json=body(
                0,
                rpe=3,
                performed_at=(now - timedelta(hours=hours)).isoformat(),
                pain={"during": 1, "next_morning": morning},
                **changes,
            ),
        )


def test_routine_follows_the_recommendation(client, headers):
    _log_two_easy_days(client, headers, "r")
    routine = client.get("/v1/users/r/routine?progression=lunge-ladder", headers=headers).json()
    step = routine["blocks"][2]
    assert (step["exercise"], step["sets"], step["dose"]) == ("reverse-lunge", 3, 10)
    assert "3 x 10 reps each side" in routine["summary"] and step["notes"].startswith("3 x 10 reps each side")
    habit = routine["blocks"][3]["notes"]
    assert "floor" in habit and "stool" not in habit  # from step 3 on, the real thing


def test_routine_on_step_two_says_to_hold_a_support(client, headers):
    _log_two_easy_days(
        client,
        headers,
        "s2",
        exercise="supported-reverse-lunge",
        target_dose=4,
        sets=[{"dose": 4}] * 2,
        support_used=True,
    )
    blocks = client.get("/v1/users/s2/routine?progression=lunge-ladder", headers=headers).json()["blocks"]
    assert [b["exercise"] for b in blocks] == [
        "glute-bridge",
        "kneeling-hip-flexor-stretch",
        "supported-reverse-lunge",
        "lunge-to-reach-floor",
    ]
    step = blocks[2]
    assert (step["exercise"], step["dose"]) == ("supported-reverse-lunge", 6)
    assert "support" in step["notes"] and "each side" in step["notes"]
    habit = blocks[3]["notes"]
    assert "each side" in habit and "stool" in habit and "support" in habit  # scaled before step 3


def test_routine_on_a_pain_pause_prescribes_nothing_and_advises_calmly(client, headers):
    client.post(
        "/v1/users/p/sessions",
        json=body(0, performed_at=datetime.now(UTC).isoformat(), pain={"during": 9}),
        headers=headers,
    )
    routine = client.get("/v1/users/p/routine?progression=lunge-ladder", headers=headers).json()
    assert routine["blocks"] == [] and routine["recommendation"]["action"] == "pause"
    assert "usually settle" in routine["summary"] and "Rest at least 24 hours" in routine["summary"]
    assert "easier level" in routine["summary"]
    # A gentler restart: the step below the reverse lunge, at its start.
    assert (routine["recommendation"]["resume"]["exercise"], routine["recommendation"]["resume"]["dose"]) == (
        "supported-reverse-lunge",
        4,
    )


@pytest.mark.parametrize(
    ("flag", "words"),
    [
        ("saddle_numbness", "emergency department"),
        ("fever_or_unwell", "see a doctor today"),
        ("constant_night_pain", "doctor or physiotherapist"),
    ],
)
def test_routine_on_a_red_flag_gives_the_advice_its_urgency_needs(client, headers, flag, words):
    user = f"flag-{flag}"
    client.post(
        f"/v1/users/{user}/sessions",
        json=body(0, performed_at=datetime.now(UTC).isoformat(), red_flags=[flag]),
        headers=headers,
    )
    routine = client.get(f"/v1/users/{user}/routine?progression=lunge-ladder", headers=headers).json()
    assert routine["blocks"] == [] and routine["recommendation"]["reasons"][0]["code"] == "red_flag"
    assert words in routine["summary"] and "cleared you" in routine["summary"]


def test_routine_of_unknown_progression_is_404(client, headers):
    assert client.get("/v1/users/p/routine?progression=nope", headers=headers).status_code == 404
