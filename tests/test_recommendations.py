"""Recommendation endpoints: stored history and stateless evaluate give the same answers."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from app.sessions.tables import SessionRow
from tests.factories import session_body

WRITE = "sessions:read,sessions:write"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
LADDER = ["half-squat-hold", "supported-reverse-lunge", "reverse-lunge", "kneeling-reverse-lunge",
          "long-step-reverse-lunge", "lateral-reverse-lunge"]


@pytest.fixture
def h(auth):
    return auth(WRITE + ",catalogue:read")


def body(minute, **changes):
    """A complete reverse-lunge session (3 x 8), `minute`s after T0."""
    base = dict(sets=[{"dose": 8}] * 3, faults=[], performed_at=(T0 + timedelta(minutes=minute)).isoformat())
    return session_body(**(base | changes))


def evaluate(client, headers, sessions, **extra):
    return client.post(
        "/v1/recommendations/evaluate", json={"progression": "lunge-ladder", "sessions": sessions, **extra}, headers=headers
    )


def test_user_without_sessions_starts(client, h):
    answer = client.get("/v1/users/new-user/recommendation?progression=lunge-ladder", headers=h).json()
    assert answer["action"] == "start" and answer["current"] is None
    assert answer["next"] == {"step": 1, "exercise": "half-squat-hold", "sets": 3, "dose": 5, "unit": "seconds", "support": "optional"}
    assert answer["reasons"][0]["code"] == "no_history" and answer["progression"] == "lunge-ladder"
    assert len(answer["rules_version"]) == 16 and answer["as_of"].endswith("Z")


def test_worked_example_from_stored_history(client, h):
    ids = [
        client.post("/v1/users/w/sessions", json=body(0, rpe=4, pain={"during": 2}), headers=h).json()["id"],
        client.post("/v1/users/w/sessions", json=body(10, rpe=3, pain={"during": 1}), headers=h).json()["id"],
    ]
    as_of = (T0 + timedelta(days=1)).isoformat()
    answer = client.get("/v1/users/w/recommendation", params={"progression": "lunge-ladder", "as_of": as_of}, headers=h).json()
    assert answer["action"] == "increase_dose"
    assert answer["next"] == {"step": 3, "exercise": "reverse-lunge", "sets": 3, "dose": 10, "unit": "reps", "support": "none"}
    assert answer["current"]["dose"] == 8 and answer["reasons"][0]["session_ids"] == ids
    assert answer["as_of"] == as_of.replace("+00:00", "Z")


def test_evaluate_names_sessions_by_id_or_index(client, h):
    answer = evaluate(client, h, [body(0, id="mine-1", rpe=4), body(10, rpe=3)], as_of=(T0 + timedelta(days=1)).isoformat()).json()
    assert answer["action"] == "increase_dose" and answer["reasons"][0]["session_ids"] == ["mine-1", "#1"]


def test_evaluate_empty_list_starts_and_stores_nothing(client, h, app):
    assert evaluate(client, h, []).json()["action"] == "start"
    evaluate(client, h, [body(0)])
    with Session(app.state.engine) as s:
        assert s.execute(select(func.count()).select_from(SessionRow)).scalar_one() == 0


def test_evaluate_validates_sessions_as_posts_do(client, h):
    bad = evaluate(client, h, [body(0), body(1, exercise="moonwalk"), body(2, rpe=11)])
    assert bad.status_code == 422
    locs = [e["loc"] for e in bad.json()["errors"]]
    assert ["body", "sessions", 2, "rpe"] in locs
    fault = evaluate(client, h, [body(0, faults=["nope"])])
    assert fault.status_code == 422 and fault.json()["errors"][0]["loc"] == ["body", "sessions", 0, "faults", 0]
    assert evaluate(client, h, [body(0)] * 1001).status_code == 422


def test_unknown_progression_is_404(client, h):
    assert client.get("/v1/users/u/recommendation?progression=nope", headers=h).status_code == 404
    assert client.post("/v1/recommendations/evaluate", json={"progression": "nope", "sessions": []}, headers=h).status_code == 404


def test_recommendation_scopes_and_tenancy(client, auth, h):
    client.post("/v1/users/t/sessions", json=body(0, pain={"during": 9}), headers=h)
    assert client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=h).json()["action"] == "pause"
    other = auth(WRITE)
    assert client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=other).json()["action"] == "start"
    assert client.get("/v1/users/t/recommendation?progression=lunge-ladder", headers=auth("catalogue:read")).status_code == 403
    assert client.post("/v1/recommendations/evaluate", json={"progression": "lunge-ladder"}, headers=auth("sessions:read")).status_code == 403


def test_naive_as_of_is_422(client, h):
    response = client.get("/v1/users/u/recommendation?progression=lunge-ladder&as_of=2026-11-20T07:30:00", headers=h)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "as_of"]


sessions_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "step": st.integers(0, 5),
            "target": st.integers(1, 14),
            "minute": st.integers(0, 60 * 24 * 20),
            "rpe": st.none() | st.integers(0, 10),
            "during": st.integers(0, 10),
            "after": st.none() | st.integers(0, 10),
            "before": st.none() | st.integers(0, 10),
            "next_morning": st.none() | st.integers(0, 10),
            "short": st.booleans(),
        }
    ),
    max_size=6,
)


def _to_body(item):
    exercise = LADDER[item["step"]]
    sets = [item["target"]] * 3 if not item["short"] else [max(item["target"] - 1, 0)]
    return session_body(
        exercise=exercise, target_dose=item["target"], sets=[{"dose": d} for d in sets], faults=[],
        performed_at=(T0 + timedelta(minutes=item["minute"])).isoformat(), rpe=item["rpe"], support_used=False,
        pain={"during": item["during"], "after": item["after"], "before": item["before"], "next_morning": item["next_morning"]},
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=sessions_strategy, days=st.integers(0, 40))
def test_random_histories_move_at_most_one_position_and_both_paths_agree(client, h, history, days):
    import uuid

    from app.catalogue.content import load_content
    from app.progression.engine import positions

    ladder = load_content().progressions[0]
    grid = [(ladder.steps[i].exercise, dose) for i, dose in positions(ladder)]
    user = f"prop-{uuid.uuid4().hex[:10]}"
    bodies = [_to_body(item) for item in history]
    ids = []
    for b in bodies:
        response = client.post(f"/v1/users/{user}/sessions", json=b, headers=h)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    as_of = (T0 + timedelta(days=days)).isoformat()
    stored = client.get(f"/v1/users/{user}/recommendation", params={"progression": "lunge-ladder", "as_of": as_of}, headers=h).json()
    stateless = evaluate(client, h, [b | {"id": i} for b, i in zip(bodies, ids, strict=True)], as_of=as_of).json()
    assert stored == stateless

    latest = _latest(bodies, as_of)
    if latest is None:
        assert stored["action"] == "start" and stored["current"] is None
        return
    rules, pain = ladder.rules, latest["pain"]
    here = grid.index((stored["current"]["exercise"], stored["current"]["dose"]))
    stop = any(v is not None and v >= rules.pain_stop for v in (pain["during"], pain["after"], pain["next_morning"]))
    over = pain["during"] > rules.pain_limit or (pain["after"] is not None and pain["after"] > rules.pain_limit)
    flare = pain["next_morning"] is not None and pain["next_morning"] > (pain["before"] or 0) + rules.flare_margin
    assert (stored["action"] == "pause") == (stop or (here == 0 and (over or flare)))
    if stored["action"] == "pause":
        assert stored["next"] is None
        return
    move = grid.index((stored["next"]["exercise"], stored["next"]["dose"])) - here
    assert move in (-1, 0, 1)
    same_step = stored["next"]["exercise"] == stored["current"]["exercise"]
    expected = {0: "repeat", 1: "increase_dose" if same_step else "advance_step", -1: "decrease_dose" if same_step else "regress_step"}
    assert stored["action"] == expected[move]


def _latest(bodies, as_of):
    """The latest ladder session up to as_of: by performed_at, then received (list) order."""
    cutoff = datetime.fromisoformat(as_of)
    eligible = [(datetime.fromisoformat(b["performed_at"]), i, b) for i, b in enumerate(bodies)]
    eligible = [e for e in eligible if e[0] <= cutoff]
    return max(eligible, key=lambda e: (e[0], e[1]))[2] if eligible else None


def test_routine_wraps_the_recommended_step_in_warm_up_and_habit(client, h):
    routine = client.get("/v1/users/fresh/routine?progression=lunge-ladder", headers=h).json()
    exercises = [b["exercise"] for b in routine["blocks"]]
    assert exercises == ["glute-bridge", "kneeling-hip-flexor-stretch", "half-squat-hold", "lunge-to-reach-floor"]
    step = routine["blocks"][2]
    assert (step["sets"], step["dose"], step["unit"]) == (3, 5, "seconds")
    assert routine["recommendation"]["action"] == "start" and routine["duration_minutes"] >= 1
    for block in routine["blocks"]:
        assert set(block) == {"exercise", "sets", "dose", "unit", "rest_seconds", "notes"}


def test_routine_follows_the_recommendation(client, h):
    now = datetime.now(UTC)
    for minutes in (60, 30):
        client.post("/v1/users/r/sessions", json=body(0, rpe=3, performed_at=(now - timedelta(minutes=minutes)).isoformat()), headers=h)
    step = client.get("/v1/users/r/routine?progression=lunge-ladder", headers=h).json()["blocks"][2]
    assert (step["exercise"], step["sets"], step["dose"]) == ("reverse-lunge", 3, 10)


def test_routine_on_pause_prescribes_nothing_and_says_to_seek_advice(client, h):
    client.post("/v1/users/p/sessions", json=body(0, performed_at=datetime.now(UTC).isoformat(), pain={"during": 9}), headers=h)
    routine = client.get("/v1/users/p/routine?progression=lunge-ladder", headers=h).json()
    assert routine["blocks"] == [] and routine["recommendation"]["action"] == "pause"
    assert "clinical advice" in routine["summary"]


def test_routine_of_unknown_progression_is_404(client, h):
    assert client.get("/v1/users/p/routine?progression=nope", headers=h).status_code == 404
