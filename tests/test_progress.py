"""Progress: a user's sessions on one ladder with their 1-based positions, ISO weeks (across a
year's end too), outcome trends with the MCID edges, the current recommendation, the period
asked for, privacy and erasure; and the chart: SVG that parses, speaks to screen readers,
renders non-blank in Chromium, and answers 304 to an unchanged history."""

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from app.progress.service import iso_week
from tests.browser import chromium_page
from tests.content import LADDER, OFF_LADDER
from tests.factories import session_body
from tests.test_partner_content import WALL_SIT, ours, published  # noqa: F401 (fixtures)

ALL = "catalogue:read,sessions:read,sessions:write"
SVG = "{http://www.w3.org/2000/svg}"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


@pytest.fixture
def key(make_key) -> str:
    return make_key(ALL)


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def log(client, key, user="u-1", **changes):
    response = client.post(f"/v1/users/{user}/sessions", json=session_body(**changes), headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.json()


def score(client, key, instrument, value, when, user="u-1"):
    body = {"instrument": instrument, "score": value, "recorded_at": when.isoformat()}
    response = client.post(f"/v1/users/{user}/outcomes", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text


def progress(client, key, user="u-1", progression=LADDER.slug, **params):
    return client.get(f"/v1/users/{user}/progress", params={"progression": progression, **params}, headers=bearer(key))


def step_session(index: int, dose: int, when: datetime, **changes):
    step = LADDER.steps[index]
    start = {"exercise": step.exercise, "target_dose": dose, "performed_at": when.isoformat(), "faults": []}
    return start | changes


def test_sessions_come_with_their_position_step_and_whether_they_qualify(client, key):
    first, second = LADDER.steps[0], LADDER.steps[1]
    bottom = log(client, key, **step_session(0, first.start, days_ago(3), sets=[{"dose": first.start}] * first.sets))
    top_of_first = log(client, key, **step_session(0, first.target, days_ago(2)))
    next_step = log(client, key, **step_session(1, second.start, days_ago(1), faults=[], rpe=9))
    log(client, key, exercise=OFF_LADDER, performed_at=days_ago(1).isoformat(), faults=[])  # on no step of the ladder
    answer = progress(client, key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first_positions = len(range(first.start, first.target + 1, first.increment))
    assert [(s["id"], s["position"], s["step"], s["exercise"], s["dose"]) for s in body["sessions"]] == [
        (bottom["id"], 1, first.step, first.exercise, first.start),
        (top_of_first["id"], first_positions, first.step, first.exercise, first.target),
        (next_step["id"], first_positions + 1, second.step, second.exercise, second.start),
    ]
    assert [s["qualifying"] for s in body["sessions"]] == [
        s["assessment"]["qualifying"] for s in (bottom, top_of_first, next_step)
    ]
    assert body["sessions"][2]["qualifying"] is False  # rpe 9 is not easy
    assert body["sessions"][0]["pain"] == bottom["pain"] and body["sessions"][0]["rpe"] == bottom["rpe"]


def test_positions_on_a_partner_ladder(client, published):  # noqa: F811
    when = days_ago(2)
    sessions = [("wall-sit", 10), ("wall-sit", 17), ("glute-bridge", 9), ("glute-bridge", 12)]
    for offset, (exercise, dose) in enumerate(sessions):
        body = session_body(
            exercise=exercise,
            progression="wall-ladder",
            target_dose=dose,
            faults=[],
            performed_at=(when + timedelta(hours=offset)).isoformat(),
        )
        assert client.post("/v1/users/u-1/sessions", json=body, headers=published).status_code == 201
    answer = client.get("/v1/users/u-1/progress?progression=wall-ladder", headers=published).json()
    # wall sit 10, 15, 20 are positions 1-3; glute bridge 8, 10, 12 are 4-6; a dose between counts as the one below
    assert [(s["position"], s["step"]) for s in answer["sessions"]] == [(1, 1), (2, 1), (4, 2), (6, 2)]
    assert answer["recommendation"]["progression"] == "wall-ladder"


def test_iso_weeks_cross_a_years_end_by_the_iso_calendar():
    assert iso_week(datetime(2026, 12, 31, tzinfo=UTC)) == "2026-W53"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    assert iso_week(datetime(2027, 1, 4, tzinfo=UTC)) == "2027-W01"
    assert iso_week(datetime(2025, 12, 29, tzinfo=UTC)) == "2026-W01"


def test_weeks_across_a_years_end_hold_their_sessions_and_the_empty_weeks_between(client, key):
    times = [
        datetime(2025, 12, 27, 9, tzinfo=UTC),
        datetime(2025, 12, 31, 9, tzinfo=UTC),
        datetime(2025, 12, 31, 18, tzinfo=UTC),
        datetime(2026, 1, 1, 9, tzinfo=UTC),
    ]
    pains = [2, 4, 5, 3]
    for when, pain in zip(times, pains, strict=True):
        log(client, key, **step_session(0, LADDER.steps[0].start, when, pain={"during": pain}))
    log(client, key, **step_session(1, LADDER.steps[1].start, datetime(2026, 1, 14, 9, tzinfo=UTC)))
    body = progress(client, key, since="2025-12-22T00:00:00Z", until="2026-01-18T23:59:59Z").json()
    assert [w["week"] for w in body["weeks"]] == ["2025-W52", "2026-W01", "2026-W02", "2026-W03"]
    w52, w01, w02, w03 = body["weeks"]
    assert (w52["sessions"], w52["days_active"], w52["mean_pain_during"]) == (1, 1, 2.0)
    assert (w01["sessions"], w01["days_active"], w01["mean_pain_during"]) == (3, 2, 4.0)
    assert w01["highest_position"] == 1
    assert w02 == {
        "week": "2026-W02",
        "sessions": 0,
        "days_active": 0,
        "highest_position": None,
        "mean_pain_during": None,
    }
    assert w03["sessions"] == 1 and w03["highest_position"] > w01["highest_position"]


def test_since_and_until_choose_the_sessions_and_default_to_the_last_90_days(client, key):
    old = log(client, key, performed_at=days_ago(120).isoformat())
    recent = log(client, key, performed_at=days_ago(30).isoformat())
    latest = log(client, key, performed_at=days_ago(1).isoformat())
    by_default = progress(client, key).json()
    assert [s["id"] for s in by_default["sessions"]] == [recent["id"], latest["id"]]
    until = datetime.fromisoformat(by_default["until"])
    assert until - datetime.fromisoformat(by_default["since"]) == timedelta(days=90)
    assert until > datetime.now(UTC) and (until.hour, until.minute) == (0, 0)  # the end of today, UTC
    window = progress(client, key, since=days_ago(200).isoformat(), until=days_ago(10).isoformat()).json()
    assert [s["id"] for s in window["sessions"]] == [old["id"], recent["id"]]
    only_since = progress(client, key, since=days_ago(5).isoformat()).json()
    assert [s["id"] for s in only_since["sessions"]] == [latest["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-01T00:00:00Z", "until": "2026-10-01T00:00:00Z"},  # backwards
        {"since": "2023-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},  # over two years
        {"since": "2026-11-01T00:00:00"},  # no offset
    ],
)
def test_a_bad_period_is_refused_naming_the_parameter(client, key, params):
    refused = progress(client, key, **params)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["loc"][:2] == ["query", "since"]


@pytest.mark.parametrize(
    ("instrument", "baseline", "latest", "meaningful"),
    [
        ("odi", 40, 30, True),
        ("odi", 40, 31, False),
        ("psfs", 3, 5, True),
        ("psfs", 3, 4.9, False),
        ("rmdq", 12, 7, True),
        ("rmdq", 12, 8, False),
        ("nprs", 6, 4, True),
        ("nprs", 6, 8, False),
        ("odi", 30, 40, False),
        ("psfs", 5, 3, False),
    ],
)
def test_an_outcomes_change_is_meaningful_at_its_mcid_in_the_better_direction(
    client, key, instrument, baseline, latest, meaningful
):
    score(client, key, instrument, baseline, days_ago(60))
    between = (baseline + latest) / 2
    score(client, key, instrument, round(between) if instrument == "rmdq" else between, days_ago(30))
    score(client, key, instrument, latest, days_ago(1))
    [trend] = progress(client, key).json()["outcomes"]
    assert trend == {
        "instrument": instrument,
        "baseline": baseline,
        "latest": latest,
        "change": round(latest - baseline, 2),
        "meaningful": meaningful,
    }


def test_a_single_score_has_no_meaningful_change_and_later_scores_wait_for_their_period(client, key):
    score(client, key, "odi", 40, days_ago(200))  # before the period: still the baseline
    score(client, key, "nprs", 5, days_ago(3))
    score(client, key, "odi", 28, days_ago(2))
    score(client, key, "odi", 50, days_ago(0.5))  # after `until` below
    trends = progress(client, key, until=days_ago(1).isoformat()).json()["outcomes"]
    assert trends == [
        {"instrument": "odi", "baseline": 40, "latest": 28, "change": -12, "meaningful": True},
        {"instrument": "nprs", "baseline": 5, "latest": 5, "change": 0, "meaningful": None},
    ]


def test_the_recommendation_is_the_current_one(client, key):
    log(client, key, performed_at=days_ago(1).isoformat())
    body = progress(client, key).json()
    current = client.get(f"/v1/users/u-1/recommendation?progression={LADDER.slug}", headers=bearer(key)).json()
    assert {k: v for k, v in body["recommendation"].items() if k != "as_of"} == {
        k: v for k, v in current.items() if k != "as_of"
    }


def test_another_partners_user_and_an_unknown_ladder(client, key, make_key):
    log(client, key, performed_at=days_ago(1).isoformat())
    score(client, key, "odi", 30, days_ago(1))
    other = progress(client, make_key(ALL)).json()
    assert (other["sessions"], other["outcomes"]) == ([], [])
    assert other["recommendation"]["action"] == "start"
    missing = progress(client, key, progression="no-such-ladder")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_user_token_reads_its_own_progress_only(client, key):
    token = client.post("/v1/users/u-1/tokens", json={"scopes": ["sessions:read"]}, headers=bearer(key)).json()["token"]
    assert progress(client, token).status_code == 200
    assert progress(client, token, user="u-2").status_code == 403
    chart = client.get(f"/v1/users/u-2/progress.svg?progression={LADDER.slug}", headers=bearer(token))
    assert chart.status_code == 403


def test_erasure_leaves_no_progress(client, key):
    log(client, key, performed_at=days_ago(1).isoformat())
    score(client, key, "odi", 30, days_ago(1))
    assert client.delete("/v1/users/u-1", headers=bearer(key)).status_code == 204
    body = progress(client, key).json()
    assert (body["sessions"], body["outcomes"]) == ([], [])


def chart(client, key, user="u-1", headers=None, **params):
    return client.get(
        f"/v1/users/{user}/progress.svg",
        params={"progression": LADDER.slug, **params},
        headers=bearer(key) | (headers or {}),
    )


def test_the_chart_is_svg_for_screen_readers_and_unchanged_history_answers_304(client, key):
    log(client, key, performed_at=days_ago(3).isoformat())
    log(client, key, performed_at=days_ago(2).isoformat(), red_flags=["fever_or_unwell"])
    drawn = chart(client, key)
    assert drawn.status_code == 200, drawn.text
    assert drawn.headers["content-type"].startswith("image/svg+xml")
    root = ET.parse(io.BytesIO(drawn.content)).getroot()
    assert root.tag == f"{SVG}svg"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text and desc is not None and "2 sessions" in (desc.text or "")
    etag = drawn.headers["etag"]
    again = chart(client, key, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert chart(client, key, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    log(client, key, performed_at=days_ago(1).isoformat())
    changed = chart(client, key, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_chart_of_another_partners_user_is_not_the_same(client, key, make_key):
    log(client, key, performed_at=days_ago(1).isoformat())
    ours_ = chart(client, key)
    theirs = chart(client, make_key(ALL))
    assert theirs.status_code == 200 and theirs.headers["etag"] != ours_.headers["etag"]
    assert b"1 session" not in theirs.content


@pytest.mark.browser
def test_the_chart_renders_non_blank_in_chromium(client, key):
    for day in range(20, 0, -1):
        log(client, key, performed_at=days_ago(day).isoformat(), pain={"during": day % 7, "next_morning": day % 5})
    svg = chart(client, key).text
    with chromium_page() as page:
        # Loaded as an image (as an <img> would load it: an SVG that fails to parse fails here),
        # drawn on white, then its pixels counted.
        drawn = page.evaluate(RASTERISE, svg)
    assert drawn["width"] > 300 and drawn["height"] > 150
    assert drawn["colours"] > 5 and drawn["inked"] > 0.02 * drawn["width"] * drawn["height"]


RASTERISE = """async (svg) => {
  const url = URL.createObjectURL(new Blob([svg], {type: "image/svg+xml"}));
  const image = new Image();
  await new Promise((loaded, failed) => { image.onload = loaded; image.onerror = failed; image.src = url; });
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth || image.width;
  canvas.height = image.naturalHeight || image.height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let inked = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i] < 250 || pixels[i + 1] < 250 || pixels[i + 2] < 250) inked++;
    colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  }
  return {width: canvas.width, height: canvas.height, inked, colours: colours.size};
}"""


def test_the_chart_names_each_step_of_the_ladder_once_where_it_starts(client, key, app):
    log(client, key, performed_at=days_ago(1).isoformat())
    root = ET.fromstring(chart(client, key).content)
    texts = [element.text or "" for element in root.iter(f"{SVG}text")]
    names = [app.state.catalogue.exercises[step.exercise].name for step in LADDER.steps]
    labels = [text for text in texts if text.startswith("Step ")]
    assert labels == [f"Step {number}: {name}" for number, name in enumerate(names, start=1)]
    starts, position = [], 1
    for step in LADDER.steps:
        starts.append(str(position))
        position += len(range(step.start, step.target + 1, step.increment))
    left_axis = texts[: texts.index("Ladder position")][-len(starts) :]  # its ticks come just before its label
    assert left_axis == starts  # the left axis marks where each step starts
