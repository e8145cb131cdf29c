"""Recommendation endpoints: stored history and stateless evaluate give the same answers."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from app.progression.engine import positions
from app.sessions.tables import SessionRow
from tests.content import EMERGENCY, LADDER, LADDER_EXERCISES, OFF_LADDER, SEE_CLINICIAN
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
    assert re.fullmatch(r"2\.[0-9a-f]{16}", answer["rules_version"]) and answer["as_of"].endswith("Z")


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


def test_red_flag_on_another_exercise_pauses_the_stored_ladder_until_a_later_clear_session(client, headers):
    for b in worked():
        client.post("/v1/users/rf/sessions", json=b, headers=headers)
    later = MONDAY + timedelta(days=1, hours=2)
    flagged = client.post(
        "/v1/users/rf/sessions", headers=headers, json=_off_ladder_session(later, red_flags=[SEE_CLINICIAN])
    ).json()
    params = {"progression": "lunge-ladder", "as_of": (MONDAY + timedelta(days=2)).isoformat()}
    answer = client.get("/v1/users/rf/recommendation", params=params, headers=headers).json()
    assert (answer["action"], answer["next"], answer["resume"]) == ("pause", None, None)
    assert answer["reasons"][0]["code"] == "red_flag" and answer["reasons"][0]["session_ids"] == [flagged["id"]]
    assert answer["current"]["exercise"] == "reverse-lunge" and "urgent" not in answer["reasons"][0]["message"].lower()
    client.post("/v1/users/rf/sessions", headers=headers, json=_off_ladder_session(later + timedelta(minutes=30)))
    assert client.get("/v1/users/rf/recommendation", params=params, headers=headers).json()["action"] == "increase_dose"


def test_emergency_red_flag_answers_urgent_care_today(client, headers):
    flagged = session_body(performed_at=MONDAY.isoformat(), red_flags=["fever_or_unwell", "bladder_bowel_change"])
    answer = evaluate(client, headers, [flagged], as_of=(MONDAY + timedelta(hours=1)).isoformat()).json()
    assert answer["action"] == "pause" and "urgent medical care today" in answer["reasons"][0]["message"]


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


sessions_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "step": st.integers(0, len(LADDER_EXERCISES)),  # the last: an exercise on no ladder
            "target": st.integers(1, 14),
            "minute": st.integers(0, 60 * 24 * 20),
            "rpe": st.none() | st.integers(0, 10),
            "during": st.integers(0, 10),
            "after": st.none() | st.integers(0, 10),
            "before": st.none() | st.integers(0, 10),
            "next_morning": st.none() | st.integers(0, 10),
            "short": st.booleans(),
            "red_flags": st.sampled_from([[], [], [], [SEE_CLINICIAN], [EMERGENCY]]),
        }
    ),
    max_size=6,
)


def _to_body(item):
    exercise = (LADDER_EXERCISES + [OFF_LADDER])[item["step"]]
    sets = [item["target"]] * 3 if not item["short"] else [max(item["target"] - 1, 0)]
    return session_body(
        exercise=exercise,
        target_dose=item["target"],
        sets=[{"dose": d} for d in sets],
        faults=[],
        performed_at=(T0 + timedelta(minutes=item["minute"])).isoformat(),
        rpe=item["rpe"],
        support_used=False,
        pain={
            "during": item["during"],
            "after": item["after"],
            "before": item["before"],
            "next_morning": item["next_morning"],
        },
        red_flags=item["red_flags"],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=sessions_strategy, days=st.integers(0, 40))
def test_random_histories_move_at_most_one_position_and_both_paths_agree(client, headers, history, days):
    grid = [(LADDER.steps[i].exercise, dose) for i, dose in positions(LADDER)]
    user = f"prop-{uuid.uuid4().hex[:10]}"
    bodies = [_to_body(item) for item in history]
    ids = []
    for b in bodies:
        response = client.post(f"/v1/users/{user}/sessions", json=b, headers=headers)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    as_of = (T0 + timedelta(days=days)).isoformat()
    stored = client.get(
        f"/v1/users/{user}/recommendation", params={"progression": "lunge-ladder", "as_of": as_of}, headers=headers
    ).json()
    stateless = evaluate(client, headers, [b | {"id": i} for b, i in zip(bodies, ids, strict=True)], as_of=as_of).json()
    assert stored == stateless

    for reason in stored["reasons"]:
        assert bool(reason["unmet"]) == (reason["code"] == "keep_practising")
    latest_of_all = _latest(bodies, as_of)
    if latest_of_all is not None and latest_of_all["red_flags"]:
        assert (stored["action"], stored["reasons"][0]["code"], stored["resume"]) == ("pause", "red_flag", None)
        return
    latest = _latest([b for b in bodies if b["exercise"] in LADDER_EXERCISES], as_of)
    if latest is None:
        assert stored["action"] == "start" and stored["current"] is None
        return
    rules, pain = LADDER.rules, latest["pain"]
    here = grid.index((stored["current"]["exercise"], stored["current"]["dose"]))
    stop = any(v is not None and v >= rules.pain_stop for v in (pain["during"], pain["after"], pain["next_morning"]))
    over = pain["during"] > rules.pain_limit or (pain["after"] is not None and pain["after"] > rules.pain_limit)
    assert (stored["action"] == "pause") == (stop or (here == 0 and over))
    if stored["action"] == "pause":
        assert stored["next"] is None and stored["resume"]["exercise"] == stored["current"]["exercise"]
        return
    assert stored["resume"] is None
    move = grid.index((stored["next"]["exercise"], stored["next"]["dose"])) - here
    assert move in (-1, 0, 1)
    same_step = stored["next"]["exercise"] == stored["current"]["exercise"]
    expected = {
        0: "repeat",
        1: "increase_dose" if same_step else "advance_step",
        -1: "decrease_dose" if same_step else "regress_step",
    }
    assert stored["action"] == expected[move]


def _latest(bodies, as_of):
    """The latest session up to as_of: by performed_at, then received (list) order."""
    cutoff = datetime.fromisoformat(as_of)
    eligible = [(datetime.fromisoformat(b["performed_at"]), i, b) for i, b in enumerate(bodies)]
    eligible = [e for e in eligible if e[0] <= cutoff]
    return max(eligible, key=lambda e: (e[0], e[1]))[2] if eligible else None


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
    assert "physiotherapist or doctor" in routine["summary"] and "usually settle" in routine["summary"]
    assert routine["recommendation"]["resume"]["dose"] == 6


@pytest.mark.parametrize(("flag", "urgent"), [("saddle_numbness", True), ("constant_night_pain", False)])
def test_routine_on_a_red_flag_gives_the_advice_its_urgency_needs(client, headers, flag, urgent):
    user = f"flag-{flag}"
    client.post(
        f"/v1/users/{user}/sessions",
        json=body(0, performed_at=datetime.now(UTC).isoformat(), red_flags=[flag]),
        headers=headers,
    )
    routine = client.get(f"/v1/users/{user}/routine?progression=lunge-ladder", headers=headers).json()
    assert routine["blocks"] == [] and routine["recommendation"]["reasons"][0]["code"] == "red_flag"
    assert ("urgent medical care today" in routine["summary"]) == urgent


def test_routine_of_unknown_progression_is_404(client, headers):
    assert client.get("/v1/users/p/routine?progression=nope", headers=headers).status_code == 404
