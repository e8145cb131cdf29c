"""Draft ladders in evaluate: a whole ladder object instead of a slug, checked as a partner's
ladder is (every check alone, and all of them reported together in one 422), run by the same
rules with its own thresholds, answered with `rules_version` "draft", and stored nowhere."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import session_body

MONDAY = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)
EVALUATE = "/v1/recommendations/evaluate"

# Bridge at the bottom, reverse lunge above it: other thresholds than the built-in ladder's
# (three in a row to move up, no rest needed between them, no margin for next-morning pain).
DRAFT: dict[str, Any] = {
    "slug": "bridge-and-lunge",
    "name": "Bridge and lunge",
    "goal": "From a glute bridge to a reverse lunge.",
    "rules": {
        "streak": 3,
        "easy_rpe": 5,
        "pain_ok": 2,
        "pain_limit": 4,
        "pain_stop": 7,
        "flare_margin": 0,
        "incomplete_streak": 2,
        "break_days": 14,
        "min_rest_hours": 0,
    },
    "steps": [
        {"exercise": "glute-bridge", "sets": 2, "start": 8, "target": 12, "increment": 2, "support": "none"},
        {"exercise": "reverse-lunge", "sets": 3, "start": 6, "target": 10, "increment": 2, "support": "optional"},
    ],
}


@pytest.fixture
def headers(auth):
    return auth("catalogue:read")  # evaluate, drafts included, needs nothing more


def draft(**changes: Any) -> dict[str, Any]:
    ladder = copy.deepcopy(DRAFT)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = ladder
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return ladder


def bridge(hours: float, dose: int = 8, **changes: Any) -> dict[str, Any]:
    """A glute-bridge session of 2 sets at `dose`, `hours` after Monday 18:00."""
    body = session_body(
        exercise="glute-bridge",
        target_dose=dose,
        sets=[{"dose": dose}] * 2,
        faults=[],
        rpe=3,
        performed_at=(MONDAY + timedelta(hours=hours)).isoformat(),
        pain={"before": 1, "during": 1, "next_morning": 1},
    )
    return body | changes


def evaluate(client, headers, ladder, sessions, as_of=MONDAY + timedelta(days=3)):
    body = {"progression": ladder, "sessions": sessions, "as_of": as_of.isoformat()}
    return client.post(EVALUATE, json=body, headers=headers)


def test_a_draft_is_run_by_the_rules_with_its_own_thresholds(client, headers):
    empty = evaluate(client, headers, DRAFT, [])
    assert empty.status_code == 200, empty.text
    answer = empty.json()
    assert answer["rules_version"] == "draft" and answer["progression"] == "bridge-and-lunge"
    assert answer["action"] == "start"
    assert answer["next"] == {
        "step": 1,
        "exercise": "glute-bridge",
        "sets": 2,
        "dose": 8,
        "unit": "reps",
        "support": "none",
    }
    # Two easy sessions an hour apart: the built-in ladder would want two and rest; this one wants three.
    two = evaluate(client, headers, DRAFT, [bridge(0), bridge(1)]).json()
    assert (two["action"], two["reasons"][0]["code"]) == ("repeat", "keep_practising")
    three = evaluate(client, headers, DRAFT, [bridge(0), bridge(1), bridge(2)]).json()
    assert (three["action"], three["next"]["dose"]) == ("increase_dose", 10)
    assert three["reasons"][0]["code"] == "ready_to_progress"
    # flare_margin 0: next-morning pain 3 after 2 before is a flare (with the built-in margin, 1, it is not).
    # At the bottom position a flare pauses (even the easiest level did not settle).
    morning = {"before": 2, "during": 1, "next_morning": 3}
    flare = evaluate(client, headers, DRAFT, [bridge(0), bridge(1), bridge(2, pain=morning)]).json()
    assert (flare["action"], flare["reasons"][0]["code"], flare["resume"]["dose"]) == ("pause", "flare", 8)
    # At the top dose of the bottom step, three easy sessions move up to the next step.
    top = evaluate(client, headers, DRAFT, [bridge(h, dose=12) for h in (0, 1, 2)]).json()
    assert (top["action"], top["next"]["exercise"], top["next"]["dose"]) == ("advance_step", "reverse-lunge", 6)


def test_the_built_in_ladder_as_a_draft_answers_as_the_built_in_one(client, headers):
    built_in = client.get("/v1/progressions/lunge-ladder", headers=headers).json()
    as_draft = {
        "slug": built_in["slug"],
        "name": built_in["name"],
        "goal": built_in["goal"],
        "rules": built_in["rules"],
        "steps": [{k: v for k, v in step.items() if k not in ("step", "unit")} for step in built_in["steps"]],
    }
    history = [
        session_body(performed_at=MONDAY.isoformat(), sets=[{"dose": 8}] * 3, faults=[], rpe=4, pain={"during": 2}),
        session_body(performed_at=(MONDAY + timedelta(hours=25)).isoformat(), sets=[{"dose": 8}] * 3, faults=[]),
    ]
    by_slug = evaluate(client, headers, "lunge-ladder", history).json()
    by_draft = evaluate(client, headers, as_draft, history).json()
    assert by_draft["rules_version"] == "draft" != by_slug["rules_version"]
    assert {k: v for k, v in by_draft.items() if k != "rules_version"} == {
        k: v for k, v in by_slug.items() if k != "rules_version"
    }


# Each check alone: the change that breaks it, where the error is, words of its message.
CHECKS = [
    ({"slug": "No Caps"}, ["slug"], "kebab-case"),
    ({"slug": "ab"}, ["slug"], "3–64"),
    ({"steps": []}, ["steps"], "1–20 steps"),
    ({"steps__1__exercise": "moonwalk"}, ["steps", 1, "exercise"], "no exercise"),
    ({"steps__1__exercise": "glute-bridge"}, ["steps", 1, "exercise"], "already a step"),
    ({"steps__0__sets": 0}, ["steps", 0, "sets"], "from 1 to 10"),
    ({"steps__0__sets": 11}, ["steps", 0, "sets"], "from 1 to 10"),
    ({"steps__0__start": 0}, ["steps", 0, "start"], "from 1 to 600"),
    ({"steps__0__target": 601, "steps__0__start": 599}, ["steps", 0, "target"], "from 1 to 600"),
    ({"steps__0__start": 14}, ["steps", 0, "target"], "at least start"),
    ({"steps__0__increment": 0}, ["steps", 0, "increment"], "from 1 to 600"),
    ({"steps__0__increment": 3}, ["steps", 0, "increment"], "multiple"),
    ({"steps__0__support": "sometimes"}, ["steps", 0, "support"], "none, optional, required"),
    ({"rules__streak": 0}, ["rules", "streak"], "from 1 to 10"),
    ({"rules__streak": 11}, ["rules", "streak"], "from 1 to 10"),
    ({"rules__incomplete_streak": 0}, ["rules", "incomplete_streak"], "from 1 to 10"),
    ({"rules__easy_rpe": 11}, ["rules", "easy_rpe"], "from 0 to 10"),
    ({"rules__pain_ok": -1}, ["rules", "pain_ok"], "from 0 to 10"),
    ({"rules__pain_ok": 4}, ["rules", "pain_limit"], "above pain_ok"),
    ({"rules__pain_stop": 4}, ["rules", "pain_stop"], "above pain_limit"),
    ({"rules__pain_stop": 11}, ["rules", "pain_stop"], "from 0 to 10"),
    ({"rules__flare_margin": 11}, ["rules", "flare_margin"], "from 0 to 10"),
    ({"rules__break_days": 0}, ["rules", "break_days"], "from 1 to 365"),
    ({"rules__break_days": 366}, ["rules", "break_days"], "from 1 to 365"),
    ({"rules__min_rest_hours": 169}, ["rules", "min_rest_hours"], "from 0 to 168"),
]


@pytest.mark.parametrize(("changes", "loc", "words"), CHECKS)
def test_each_check_alone(client, headers, changes, loc, words):
    refused = evaluate(client, headers, draft(**changes), [])
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    errors = refused.json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == ["body", "progression", *loc] and words in errors[0]["msg"], errors[0]


def test_more_than_twenty_steps_is_refused(client, headers):
    # The catalogue has fewer than 21 exercises, so 21 steps repeat some: those are named too.
    errors = evaluate(client, headers, draft(steps=[DRAFT["steps"][0]] * 21), []).json()["errors"]
    assert errors[0] == {"loc": ["body", "progression", "steps"], "msg": "a ladder has 1–20 steps; got 21"}
    assert [e["loc"][3:] for e in errors[1:]] == [[i, "exercise"] for i in range(1, 21)]


def test_every_check_at_once_is_one_422_naming_each_field(client, headers):
    broken = draft(
        slug="Bad Slug",
        rules__streak=0,
        rules__easy_rpe=11,
        rules__pain_ok=5,
        rules__pain_stop=3,
        rules__break_days=0,
        rules__min_rest_hours=200,
        steps__0__sets=0,
        steps__0__start=20,
        steps__0__support="maybe",
        steps__1__exercise="glute-bridge",
        steps__1__increment=3,
    )
    refused = evaluate(client, headers, broken, [])
    assert refused.status_code == 422
    locs = [error["loc"][2:] for error in refused.json()["errors"]]
    assert locs == [
        ["slug"],
        ["rules", "streak"],
        ["rules", "easy_rpe"],
        ["rules", "break_days"],
        ["rules", "min_rest_hours"],
        ["rules", "pain_limit"],
        ["rules", "pain_stop"],
        ["steps", 0, "sets"],
        ["steps", 0, "target"],
        ["steps", 0, "support"],
        ["steps", 1, "exercise"],
        ["steps", 1, "increment"],
    ]
    assert refused.json()["detail"] == f"{len(locs)} problems; see errors."


@pytest.mark.parametrize(
    "malformed",
    [
        {"slug": "x"},  # fields missing
        draft(rules__streak="3"),
        draft(steps__0__sets=2.5),
        draft(extra_field=1),
        draft(steps=[{"exercise": "glute-bridge"}]),
    ],
)
def test_a_malformed_draft_is_a_422_too(client, headers, malformed):
    refused = evaluate(client, headers, malformed, [])
    assert refused.status_code == 422 and refused.json()["errors"]
    assert all(error["loc"][:2] == ["body", "progression"] for error in refused.json()["errors"])


def test_a_draft_is_stored_nowhere(client, headers):
    assert evaluate(client, headers, DRAFT, [bridge(0)]).status_code == 200
    assert client.get("/v1/progressions/bridge-and-lunge", headers=headers).status_code == 404
    listed = client.get("/v1/progressions", headers=headers).json()["items"]
    assert "bridge-and-lunge" not in [ladder["slug"] for ladder in listed]
    assert evaluate(client, headers, "bridge-and-lunge", []).status_code == 404


def test_sessions_may_name_the_draft_by_its_slug(client, headers):
    named = [bridge(h) | {"progression": "bridge-and-lunge"} for h in (0, 1, 2)]
    answer = evaluate(client, headers, DRAFT, named).json()
    assert answer["action"] == "increase_dose"  # all three count: they name this ladder
    elsewhere = evaluate(client, headers, DRAFT, [bridge(0) | {"progression": "lunge-ladder"}])
    assert elsewhere.status_code == 422  # the glute bridge is no step of the built-in ladder
    off_the_draft = evaluate(
        client, headers, DRAFT, [session_body(exercise="half-squat-hold", faults=[], progression="bridge-and-lunge")]
    )
    assert off_the_draft.status_code == 422
    assert off_the_draft.json()["errors"][0]["loc"] == ["body", "sessions", 0, "progression"]
