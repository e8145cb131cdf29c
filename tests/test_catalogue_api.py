"""The catalogue endpoints, as a partner integrating them sees them."""

import gzip

import pytest

from app.catalogue.content import load_content

CONTENT = load_content()
LADDER = [
    ("half-squat-hold", "seconds", 3, 5, 30, 5, "optional"),
    ("supported-reverse-lunge", "reps", 2, 4, 10, 2, "required"),
    ("reverse-lunge", "reps", 3, 6, 12, 2, "none"),
    ("kneeling-reverse-lunge", "reps", 2, 4, 8, 2, "optional"),
    ("long-step-reverse-lunge", "reps", 3, 6, 12, 2, "none"),
    ("lateral-reverse-lunge", "reps", 3, 6, 12, 2, "none"),
]
RULES = dict(
    streak=2,
    easy_rpe=4,
    pain_ok=3,
    pain_limit=5,
    pain_stop=8,
    flare_margin=1,
    incomplete_streak=2,
    fault_streak=3,
    break_days=14,
    min_rest_hours=20,
)


def test_lunge_ladder_has_the_steps_and_thresholds_of_the_spec(client, auth):
    response = client.get("/v1/progressions/lunge-ladder", headers=auth())
    assert response.status_code == 200
    ladder = response.json()
    assert ladder["rules"] == RULES
    steps = [
        (s["exercise"], s["unit"], s["sets"], s["start"], s["target"], s["increment"], s["support"])
        for s in ladder["steps"]
    ]
    assert steps == LADDER
    assert [s["step"] for s in ladder["steps"]] == [1, 2, 3, 4, 5, 6]


def test_whole_catalogue_document_holds_every_list_and_its_version(client, auth):
    body = client.get("/v1/catalogue", headers=auth()).json()
    assert body["version"] == CONTENT.version
    assert {e["slug"] for e in body["exercises"]} == {e.slug for e in CONTENT.exercises}
    assert body["progressions"][0]["slug"] == "lunge-ladder"
    assert len(body["routines"]) >= 2
    assert {m["slug"] for m in body["muscles"]} >= {
        "rectus-femoris",
        "vastus-lateralis",
        "vastus-medialis",
        "vastus-intermedius",
        "gluteus-maximus",
    }
    assert {e["slug"] for e in body["equipment"]} == {"none", "sturdy-support"}
    assert list(body)[:2] == ["version", "safety"]


def test_safety_lists_the_disclaimer_and_red_flags_by_urgency(client, auth):
    headers = auth()
    safety = client.get("/v1/safety", headers=headers)
    assert safety.status_code == 200 and safety.headers["etag"]
    body = safety.json()
    assert body == client.get("/v1/catalogue", headers=headers).json()["safety"]
    assert "not a diagnosis" in body["disclaimer"]
    by_urgency = {}
    for flag in body["red_flags"]:
        assert set(flag) == {"code", "name", "description", "urgency"} and flag["name"] and flag["description"]
        by_urgency.setdefault(flag["urgency"], set()).add(flag["code"])
    assert by_urgency["emergency"] == {
        "bladder_bowel_change",
        "saddle_numbness",
        "worsening_leg_weakness",
        "both_legs_symptoms",
        "new_sexual_dysfunction",
    }
    assert by_urgency["urgent"] == {"fever_or_unwell"}
    assert by_urgency["see_clinician"] >= {
        "unexplained_weight_loss",
        "cancer_history",
        "recent_fall_or_injury",
        "constant_night_pain",
        "pain_below_knee_with_numbness",
        "steroids_or_osteoporosis",
        "weakened_immune_system",
    }
    assert client.get("/v1/safety").status_code == 401
    again = client.get("/v1/safety", headers=headers | {"If-None-Match": safety.headers["etag"]})
    assert again.status_code == 304


def test_sources_credit_the_article_and_label_what_it_cites(client, auth):
    sources = {s["slug"]: s for s in client.get("/v1/exercises/reverse-lunge", headers=auth()).json()["sources"]}
    assert sources["moussouli-2014"]["doi"] == "10.1123/jpah.2012-0426"
    assert sources["mortazavi-2015"]["doi"] == "10.5812/asjsm.6(2)2015.24718"
    assert all("not" in s["note"] for s in sources.values() if s["kind"] == "cited_reference")


def test_half_squat_hold_lists_the_faults_of_an_uneven_hold(client, auth):
    faults = {f["code"]: f for f in client.get("/v1/exercises/half-squat-hold", headers=auth()).json()["faults"]}
    assert {"hips_uneven", "leaning_sideways"} <= set(faults) and all(f["correction"] for f in faults.values())


def test_first_session_starts_with_the_first_ladder_position_only(client, auth):
    routine = client.get("/v1/routines/ten-minute-starter", headers=auth()).json()
    ladder_blocks = [b for b in routine["blocks"] if b["exercise"] in {step[0] for step in LADDER}]
    assert [(b["exercise"], b["sets"], b["dose"]) for b in ladder_blocks] == [("half-squat-hold", 3, 5)]
    assert {b["exercise"] for b in routine["blocks"]} == {  # all standing, like the ladder's first step
        "half-squat-hold",
        "standing-glute-squeeze",
        "standing-hip-flexor-stretch",
    }


def test_catalogue_document_lists_equal_the_item_endpoints(client, auth):
    headers = auth()
    document = client.get("/v1/catalogue", headers=headers).json()
    assert client.get("/v1/muscles", headers=headers).json()["items"] == document["muscles"]
    assert client.get("/v1/equipment", headers=headers).json()["items"] == document["equipment"]
    assert client.get("/v1/routines", headers=headers).json()["items"] == document["routines"]
    for exercise in document["exercises"]:
        assert client.get(f"/v1/exercises/{exercise['slug']}", headers=headers).json() == exercise
    for routine in document["routines"]:
        assert client.get(f"/v1/routines/{routine['slug']}", headers=headers).json() == routine


def test_every_ladder_exercise_is_complete_and_glute_driven(client, auth):
    headers = auth()
    for slug, unit, *_ in LADDER:
        exercise = client.get(f"/v1/exercises/{slug}", headers=headers).json()
        assert exercise["unit"] == unit
        assert len(exercise["instructions"]) >= 3 and exercise["cues"] and exercise["safety"]
        assert "gluteus-maximus" in exercise["muscles"]["primary"] + exercise["muscles"]["secondary"]
        article, *cited = exercise["sources"]
        assert (article["kind"], article["authors"], article["journal"]) == (
            "article",
            ["Sherwin Nicholson"],
            "SN Health Resources",
        )
        assert len(cited) == 3 and {c["kind"] for c in cited} == {"cited_reference"}
        assert {f["code"] for f in exercise["faults"]} <= {
            "thigh_dominant",
            "hips_uneven",
            "leaning_sideways",
            "short_depth",
            "spine_bending",
        }
        assert all(f["correction"] for f in exercise["faults"])
        assert 1 <= exercise["level"] <= 6


def test_progression_list_summarises_each_ladder(client, auth):
    items = client.get("/v1/progressions", headers=auth()).json()["items"]
    assert items == [
        {
            "slug": "lunge-ladder",
            "owner": "stepwise",
            "name": CONTENT.progressions[0].name,
            "goal": CONTENT.progressions[0].goal,
            "step_count": 6,
            "exercises": [step[0] for step in LADDER],
        }
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("muscle=iliopsoas", lambda e: "iliopsoas" in e.muscles.primary + e.muscles.secondary),
        ("equipment=sturdy-support", lambda e: "sturdy-support" in e.equipment),
        ("tag=daily-habit", lambda e: "daily-habit" in e.tags),
        ("max_level=2", lambda e: e.level <= 2),
        ("q=BRIDGE", lambda e: "bridge" in (e.name + " " + e.summary).lower()),
        (
            "muscle=gluteus-maximus&max_level=3",
            lambda e: "gluteus-maximus" in e.muscles.primary + e.muscles.secondary and e.level <= 3,
        ),
        ("muscle=no-such-muscle", lambda e: False),
    ],
)
def test_exercise_filters(client, auth, query, expected):
    body = client.get(f"/v1/exercises?{query}&limit=100", headers=auth()).json()
    wanted = sorted((e.level, e.slug) for e in CONTENT.exercises if expected(e))
    assert [(e["level"], e["slug"]) for e in body["items"]] == wanted
    assert body["next_cursor"] is None


def test_pagination_walks_the_whole_catalogue_by_link_header(client, auth):
    headers = auth()
    url, seen, pages = "/v1/exercises?limit=2", [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert len(body["items"]) <= 2
        seen += [e["slug"] for e in body["items"]]
        pages += 1
        link = response.headers.get("link")
        assert (link is None) == (body["next_cursor"] is None)
        url = link[1 : link.index(">")] if link else None
    assert pages == (len(CONTENT.exercises) + 1) // 2
    assert seen == [e.slug for e in sorted(CONTENT.exercises, key=lambda e: (e.level, e.slug))]


def test_pagination_keeps_filters_in_the_next_link(client, auth):
    response = client.get("/v1/exercises?tag=lunge-ladder&limit=4", headers=auth())
    assert "tag=lunge-ladder" in response.headers["link"] and "limit=4" in response.headers["link"]
    assert response.headers["link"].endswith('>; rel="next"')


def test_summaries_carry_no_detail_fields(client, auth):
    item = client.get("/v1/exercises?limit=1", headers=auth()).json()["items"][0]
    assert "instructions" not in item and {"slug", "name", "summary", "level", "unit", "per_side"} <= set(item)


def test_etag_and_cache_control_and_304(client, auth):
    headers = auth()
    first = client.get("/v1/exercises/reverse-lunge", headers=headers)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "private, max-age=300"
    again = client.get("/v1/exercises/reverse-lunge", headers=headers | {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/v1/exercises/reverse-lunge", headers=headers | {"If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.content == first.content


def test_etag_carries_the_catalogue_version(client, auth):
    etag = client.get("/v1/muscles", headers=auth()).headers["etag"]
    assert etag.strip('"').startswith(CONTENT.version[:12])


def test_large_responses_are_gzipped_when_accepted(client, auth):
    headers = auth()
    plain = client.get("/v1/catalogue", headers=headers | {"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = client.get("/v1/catalogue", headers=headers | {"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.json() == plain.json()
    assert zipped.headers["etag"] != plain.headers["etag"]
    raw = client.get("/v1/catalogue", headers=headers | {"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in raw.headers
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


def test_repeated_request_is_answered_identically(client, auth):
    headers = auth() | {"X-Request-ID": "abc-123"}
    first = client.get("/v1/exercises?limit=3", headers=headers)
    second = client.get("/v1/exercises?limit=3", headers=headers)  # served from the response cache
    assert first.content == second.content
    varying = ("date", "ratelimit")  # the quota left counts down by one
    assert {k: v for k, v in first.headers.items() if k not in varying} == {
        k: v for k, v in second.headers.items() if k not in varying
    }
    assert second.headers["x-request-id"] == "abc-123"


def test_request_id_is_generated_when_absent(client, auth):
    response = client.get("/v1/muscles", headers=auth())
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "path", ["/v1/exercises/no-such-exercise", "/v1/progressions/no-such-ladder", "/v1/routines/no-such-routine"]
)
def test_unknown_slug_is_a_404_problem(client, auth, path):
    response = client.get(path, headers=auth())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and "no-such" in body["detail"]


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", ["query", "limit"]),
        ("limit=101", ["query", "limit"]),
        ("max_level=seven", ["query", "max_level"]),
        ("max_level=7", ["query", "max_level"]),
        ("cursor=not-a-cursor", ["query", "cursor"]),
        ("cursor=WyJhIiwxXQ", ["query", "cursor"]),  # ["a", 1]: well-formed, wrong types
        ("cursor=W251bGwsbnVsbF0", ["query", "cursor"]),  # [null, null]
    ],
)
def test_bad_query_is_a_422_problem_naming_the_parameter(client, auth, query, loc):
    response = client.get(f"/v1/exercises?{query}", headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["errors"][0]["loc"] == loc and body["errors"][0]["msg"]


CATALOGUE_PATHS = [
    "/v1/catalogue",
    "/v1/muscles",
    "/v1/equipment",
    "/v1/exercises",
    "/v1/exercises/reverse-lunge",
    "/v1/progressions",
    "/v1/progressions/lunge-ladder",
    "/v1/routines",
    "/v1/routines/ten-minute-starter",
]


@pytest.mark.parametrize("path", CATALOGUE_PATHS)
def test_every_catalogue_endpoint_needs_a_key_with_the_scope(client, auth, path):
    ok = client.get(path, headers=auth("catalogue:read"))
    assert ok.status_code == 200
    for headers in ({}, {"Authorization": "Bearer sw_not-a-real-key"}, {"Authorization": "Basic abc"}):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    forbidden = client.get(path, headers=auth("sessions:read,sessions:write"))
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "The API key lacks the scope 'catalogue:read'."
    assert "sw_" not in forbidden.text


def test_catalogue_reads_query_no_database_once_the_key_is_known(database_url, backend, auth, fresh_partners):
    """Counted on the requests' engine (the periodic jobs have one of their own), with the key
    trusted for 10 s: a loaded machine cannot outlast the cache between two reads."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from app.main import create_app
    from tests.conftest import settings_for

    headers = auth()
    app = create_app(settings_for(backend, database_url, key_cache_seconds=10.0))
    with TestClient(app) as client:
        for path in CATALOGUE_PATHS:  # first requests: check the key, render and cache the answers
            client.get(path, headers=headers)
        statements = []

        def count(*_args):
            statements.append(1)

        engine = app.state.database.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            for path in CATALOGUE_PATHS * 3:
                assert client.get(path, headers=headers).status_code == 200
            assert statements == []
            client.get("/v1/muscles", headers={"Authorization": "Bearer sw_never-seen"})
            assert statements  # an unknown key is looked up: the counting works
        finally:
            event.remove(engine, "before_cursor_execute", count)


def test_catalogue_follows_a_sync_made_elsewhere(empty_database_url, tmp_path):
    """A replica notices a sync by another process (the CLI, another replica) and serves it."""
    import shutil
    import time

    import yaml
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from app import migrate
    from app.catalogue import store
    from app.catalogue.content import CONTENT_DIR
    from app.db.engines import make_engine
    from app.main import create_app
    from app.partners import service as partners
    from app.settings import Settings

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        store.sync(session=session, catalogue=CONTENT)
        _, key = partners.issue_key(
            session=session,
            partner=partners.create_partner(session=session, name="replica-test"),
            scopes=frozenset({"catalogue:read"}),
        )
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    app = create_app(Settings(database_url=empty_database_url, catalogue_refresh_seconds=0.1))
    with TestClient(app) as client:
        before = client.get("/v1/routines/ten-minute-starter", headers=headers)
        assert before.status_code == 200
        directory = tmp_path / "content"
        shutil.copytree(CONTENT_DIR, directory)
        routines = yaml.safe_load((directory / "routines.yaml").read_text())
        routines[0]["name"] = "Renamed starter"
        (directory / "routines.yaml").write_text(yaml.safe_dump(routines))
        with Session(engine) as session:
            store.sync(session=session, catalogue=load_content(directory))
            session.commit()
        deadline = time.monotonic() + 5
        while client.get("/v1/routines/ten-minute-starter", headers=headers).json()["name"] != "Renamed starter":
            assert time.monotonic() < deadline, "the new catalogue was not picked up"
            time.sleep(0.05)
        after = client.get(
            "/v1/routines/ten-minute-starter", headers=headers | {"If-None-Match": before.headers["etag"]}
        )
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    engine.dispose()


def test_unexpected_errors_are_problems_without_internals(database_url):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(database_url=database_url))

    def explode():
        raise RuntimeError("secret internals: SELECT * FROM api_key")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-1"
    assert "secret" not in response.text and "SELECT" not in response.text


def test_the_answer_cache_is_keyed_on_the_route_s_own_parameters(client, auth, app):
    """Unknown parameters are ignored and never render or store another copy of an answer; the
    same parameters in another order or repeated share one answer; the spellings seen are kept
    in a bounded alias table, whichever path (fast or framework) answers."""
    headers = auth()
    whole = client.get("/v1/catalogue", headers=headers)
    answers_before, _ = app.state.catalogue.cached_sizes()
    for n in range(300):
        junk = client.get(f"/v1/catalogue?junk={n}", headers=headers | {"If-None-Match": whole.headers["etag"]})
        assert junk.status_code == 304
    answers_after, aliases = app.state.catalogue.cached_sizes()
    assert answers_after == answers_before and aliases >= 300
    one = client.get("/v1/exercises?tag=lunge-ladder&limit=3", headers=headers)
    answers_now, _ = app.state.catalogue.cached_sizes()
    for spelling in ("limit=3&tag=lunge-ladder", "limit=50&tag=lunge-ladder&limit=3", "tag=lunge-ladder&limit=3&x=1"):
        other = client.get(f"/v1/exercises?{spelling}", headers=headers)
        assert other.status_code == 200 and other.headers["etag"] == one.headers["etag"]
        assert other.content == one.content
    assert app.state.catalogue.cached_sizes()[0] == answers_now


def test_undeclared_methods_get_405_with_every_allowed_method_and_head_works(client, auth):
    headers = auth()
    refused = client.request("PUT", "/v1/users/someone/sessions", json={}, headers=headers)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, POST"
    assert refused.headers["content-type"] == "application/problem+json"
    wrong_type = client.request("PUT", "/v1/muscles", content=b"x", headers=headers | {"Content-Type": "text/plain"})
    assert wrong_type.status_code == 405 and wrong_type.headers["allow"] == "GET, HEAD"  # 405 before 415
    for _ in range(2):  # the framework, then the fast path
        got, head = client.get("/v1/muscles", headers=headers), client.head("/v1/muscles", headers=headers)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == got.headers["etag"]
        assert head.headers["content-length"] == got.headers["content-length"]
