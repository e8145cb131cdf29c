"""Session logs: posting, reading, amending, listing; every answer as the contract says."""

import pytest
from sqlmodel import Session

from app.partners import service as partners
from app.sessions.schemas import SessionOut
from tests.factories import VALID_SESSION, at, session_body

# The PostgreSQL half runs once more through pgbouncer (transaction pooling): see conftest.
pytestmark = pytest.mark.through_pgbouncer

WRITE = "sessions:read,sessions:write"


@pytest.fixture
def headers(auth):
    return auth(WRITE)


def post(client, headers, user="user-1", body=None, **extra):
    return client.post(f"/v1/users/{user}/sessions", json=body or session_body(), headers=headers | extra)


def test_post_stores_and_answers_the_session_with_location(client, headers):
    response = post(client, headers)
    assert response.status_code == 201
    stored = response.json()
    assert response.headers["location"] == f"/v1/users/user-1/sessions/{stored['id']}"
    for field in (
        "exercise",
        "target_dose",
        "sets",
        "rpe",
        "pain",
        "support_used",
        "faults",
        "red_flags",
        "duration_seconds",
        "notes",
    ):
        assert stored[field] == VALID_SESSION[field]
    assert stored["performed_at"] == "2026-11-20T06:30:00Z" and stored["received_at"].endswith("Z")
    assert stored["user_id"] == "user-1" and stored["client_session_id"] is None
    assert stored["assessment"] == {
        "progression": "lunge-ladder",
        "completed": False,
        "qualifying": False,
        "pain_zone": "low",
        "flare": False,
        "red_flag": False,
        "leg_symptoms_spreading": False,
    }
    assert stored["leg_symptoms"] is None
    assert client.get(response.headers["location"], headers=headers).json() == stored
    assert SessionOut.model_validate(stored).model_dump(mode="json") == stored  # exactly the documented shape


def test_defaults_apply_to_optional_fields(client, headers):
    body = {
        "exercise": "glute-bridge",
        "performed_at": at(0),
        "target_dose": 10,
        "sets": [{"dose": 10}],
        "pain": {"during": 0},
    }
    stored = post(client, headers, body=body).json()
    assert stored["support_used"] is False and stored["faults"] == [] and stored["rpe"] is None
    assert stored["red_flags"] == []
    assert stored["pain"] == {"before": None, "during": 0, "after": None, "next_morning": None}
    assert stored["assessment"] is None  # glute-bridge is on no ladder


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pain": {"during": 3}}, ("low", False)),
        ({"pain": {"during": 4}}, ("acceptable", False)),
        ({"pain": {"during": 5, "after": 5}}, ("acceptable", False)),
        ({"pain": {"during": 2, "after": 6}}, ("high", False)),
        ({"pain": {"during": 8}}, ("stop", False)),
        ({"pain": {"during": 1, "after": 8}}, ("stop", False)),
        ({"pain": {"during": 1, "next_morning": 8, "before": 7}}, ("stop", False)),
        ({"pain": {"during": 1, "before": 2, "next_morning": 3}}, ("low", False)),
        ({"pain": {"during": 1, "before": 2, "next_morning": 4}}, ("low", True)),
        ({"pain": {"during": 1, "next_morning": 1}}, ("low", False)),
        ({"pain": {"during": 1, "next_morning": 2}}, ("low", False)),  # not above pain_ok
        ({"pain": {"during": 1, "next_morning": 3}}, ("low", False)),
        ({"pain": {"during": 1, "next_morning": 4}}, ("low", True)),
    ],
)
def test_pain_zone_and_flare_follow_the_thresholds(client, headers, changes, expected):
    assessment = post(client, headers, body=session_body(**changes)).json()["assessment"]
    assert (assessment["pain_zone"], assessment["flare"]) == expected


@pytest.mark.parametrize(
    ("changes", "completed", "qualifying"),
    [
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3}, True, True),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}, {"dose": 8}, {"dose": 7}, {"dose": 9}]}, True, True),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}, {"dose": 8}]}, False, False),
        ({"faults": [], "rpe": 5, "sets": [{"dose": 8}] * 3}, True, False),
        ({"faults": [], "rpe": None, "sets": [{"dose": 8}] * 3}, True, False),
        ({"faults": ["hips_uneven"], "rpe": 4, "sets": [{"dose": 8}] * 3}, True, False),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "support_used": True}, True, False),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "pain": {"during": 3, "after": 4}}, True, False),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "red_flags": ["fever_or_unwell"]}, True, False),
        # pain before within the limit (5) or above it
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "pain": {"before": 5, "during": 1}}, True, True),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "pain": {"before": 6, "during": 1}}, True, False),
        # leg symptoms: steady above the knee is fine; spreading, or below the knee after, is not
        ({"faults": [], "rpe": 4, "leg_symptoms": {"before": "above_knee", "after": "above_knee"}}, False, False),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "leg_symptoms": {"after": "above_knee"}}, True, True),
        (
            {
                "faults": [],
                "rpe": 4,
                "sets": [{"dose": 8}] * 3,
                "leg_symptoms": {"before": "none", "after": "above_knee"},
            },
            True,
            False,
        ),
        ({"faults": [], "rpe": 4, "sets": [{"dose": 8}] * 3, "leg_symptoms": {"after": "below_knee"}}, True, False),
        # planned below the step's start (6): cannot complete its first position
        ({"faults": [], "rpe": 4, "target_dose": 1, "sets": [{"dose": 1}] * 3}, False, False),
        ({"faults": [], "rpe": 4, "target_dose": 1, "sets": [{"dose": 6}] * 3}, True, True),
    ],
)
def test_completed_and_qualifying(client, headers, changes, completed, qualifying):
    assessment = post(client, headers, body=session_body(**changes)).json()["assessment"]
    assert (assessment["completed"], assessment["qualifying"]) == (completed, qualifying)


def test_leg_symptoms_are_stored_and_spreading_is_assessed(client, headers):
    legs = {"before": "above_knee", "after": "below_knee"}
    stored = post(client, headers, body=session_body(leg_symptoms=legs)).json()
    assert stored["leg_symptoms"] == legs and stored["assessment"]["leg_symptoms_spreading"] is True
    assert client.get(f"/v1/users/user-1/sessions/{stored['id']}", headers=headers).json() == stored
    one_side = post(client, headers, body=session_body(leg_symptoms={"after": "none"})).json()
    assert one_side["leg_symptoms"] == {"before": None, "after": "none"}
    assert one_side["assessment"]["leg_symptoms_spreading"] is False


@pytest.mark.parametrize(
    "legs",
    [{"before": "knee"}, {"after": "BELOW_KNEE"}, {"before": "none", "after": "ankle"}, {"middle": "none"}, "none"],
)
def test_an_unknown_leg_symptoms_value_is_422_naming_the_field_and_stores_nothing(client, headers, legs):
    response = post(client, headers, body=session_body(leg_symptoms=legs))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert all(error["loc"][:2] == ["body", "leg_symptoms"] for error in response.json()["errors"])
    assert client.get("/v1/users/user-1/sessions", headers=headers).json()["items"] == []


def test_red_flags_are_stored_and_flag_the_assessment(client, headers):
    stored = post(client, headers, body=session_body(red_flags=["saddle_numbness", "fever_or_unwell"])).json()
    assert stored["red_flags"] == ["saddle_numbness", "fever_or_unwell"] and stored["assessment"]["red_flag"] is True
    assert client.get(f"/v1/users/user-1/sessions/{stored['id']}", headers=headers).json() == stored
    other = post(
        client,
        headers,
        body=session_body(exercise="glute-bridge", target_dose=10, faults=[], red_flags=["cancer_history"]),
    )
    assert (
        other.status_code == 201
        and other.json()["red_flags"] == ["cancer_history"]
        and other.json()["assessment"] is None
    )


def test_support_used_is_fine_where_the_step_allows_support(client, headers):
    body = session_body(
        exercise="supported-reverse-lunge", target_dose=4, sets=[{"dose": 4}] * 2, rpe=3, faults=[], support_used=True
    )
    assert post(client, headers, body=body).json()["assessment"]["qualifying"] is True


def test_patch_next_morning_recomputes_the_assessment(client, headers):
    stored = post(client, headers).json()
    url = f"/v1/users/user-1/sessions/{stored['id']}"
    patched = client.patch(
        url, content='{"pain": {"next_morning": 5}}', headers=headers | {"Content-Type": "application/merge-patch+json"}
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["pain"] == {"before": 2, "during": 3, "after": 2, "next_morning": 5}
    assert body["assessment"]["flare"] is True and body["notes"] == "felt fine"
    cleared = client.patch(
        url,
        content='{"notes": null, "pain": {"next_morning": null}}',
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )
    assert cleared.json()["notes"] is None and cleared.json()["assessment"]["flare"] is False
    assert client.get(url, headers=headers).json() == cleared.json()


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ('{"rpe": 3}', ["body", "rpe"]),
        ('{"pain": {"during": 1}}', ["body", "pain", "during"]),
        ('{"pain": {"next_morning": 11}}', ["body", "pain", "next_morning"]),
        ('{"notes": "' + "x" * 1001 + '"}', ["body", "notes"]),
        ('{"pain": null}', ["body", "pain"]),
    ],
)
def test_patch_of_anything_else_is_a_422_and_changes_nothing(client, headers, patch, loc):
    stored = post(client, headers).json()
    url = f"/v1/users/user-1/sessions/{stored['id']}"
    response = client.patch(url, content=patch, headers=headers | {"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == loc
    assert client.get(url, headers=headers).json() == stored


def test_patch_needs_a_json_media_type(client, headers):
    stored = post(client, headers).json()
    response = client.patch(
        f"/v1/users/user-1/sessions/{stored['id']}",
        content='{"notes": "x"}',
        headers=headers | {"Content-Type": "text/plain"},
    )
    assert response.status_code == 415 and response.headers["content-type"] == "application/problem+json"


def test_unknown_session_is_404(client, headers):
    assert client.get("/v1/users/user-1/sessions/nope", headers=headers).status_code == 404
    response = client.patch(
        "/v1/users/user-1/sessions/nope",
        content="{}",
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 404 and response.json()["status"] == 404


INVALID_BODIES = [
    (session_body(exercise=...), ["body", "exercise"]),
    (session_body(performed_at=...), ["body", "performed_at"]),
    (session_body(target_dose=...), ["body", "target_dose"]),
    (session_body(sets=...), ["body", "sets"]),
    (session_body(pain={"before": 1}), ["body", "pain", "during"]),
    (session_body(pain={"during": 11}), ["body", "pain", "during"]),
    (session_body(pain={"during": -1}), ["body", "pain", "during"]),
    (session_body(pain={"during": 2.5}), ["body", "pain", "during"]),
    (session_body(pain={"during": "3"}), ["body", "pain", "during"]),
    (session_body(pain={"during": True}), ["body", "pain", "during"]),
    (session_body(rpe=11), ["body", "rpe"]),
    (session_body(target_dose=0), ["body", "target_dose"]),
    (session_body(target_dose=601), ["body", "target_dose"]),
    (session_body(sets=[]), ["body", "sets"]),
    (session_body(sets=[{"dose": 1}] * 21), ["body", "sets"]),
    (session_body(sets=[{"dose": 601}]), ["body", "sets", 0, "dose"]),
    (session_body(sets=[{"dose": 5, "weight": 3}]), ["body", "sets", 0, "weight"]),
    (session_body(performed_at="2026-11-20T07:30:00"), ["body", "performed_at"]),
    (session_body(performed_at="2999-01-01T00:00:00Z"), ["body", "performed_at"]),
    (session_body(performed_at="yesterday"), ["body", "performed_at"]),
    (session_body(exercise="moonwalk"), ["body", "exercise"]),
    (session_body(faults=["bad_posture"]), ["body", "faults", 0]),
    (session_body(faults=["hips_uneven", "short_depth", "nope"]), ["body", "faults", 2]),
    (session_body(heart_rate=120), ["body", "heart_rate"]),
    (session_body(notes="x" * 1001), ["body", "notes"]),
    (session_body(client_session_id="x" * 65), ["body", "client_session_id"]),
    (session_body(support_used="yes"), ["body", "support_used"]),
    (session_body(duration_seconds=-5), ["body", "duration_seconds"]),
    (session_body(notes="nul \u0000 char"), ["body", "notes"]),
    (session_body(client_session_id="\u0000"), ["body", "client_session_id"]),
    (session_body(red_flags=["fever_or_unwell", "sore_toe"]), ["body", "red_flags", 1]),
    (session_body(red_flags="fever_or_unwell"), ["body", "red_flags"]),
    (session_body(red_flags=[""]), ["body", "red_flags", 0]),
]


@pytest.mark.parametrize(("body", "loc"), INVALID_BODIES)
def test_invalid_body_is_a_422_naming_the_field_and_stores_nothing(client, headers, body, loc):
    response = post(client, headers, body=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and loc in [e["loc"] for e in problem["errors"]]
    assert client.get("/v1/users/user-1/sessions", headers=headers).json()["items"] == []


def test_glute_faults_are_checked_per_exercise(client, headers):
    body = session_body(exercise="glute-bridge", faults=["leaning_sideways"])
    assert post(client, headers, body=body).status_code == 422


@pytest.mark.parametrize("user", ["x" * 129, "a%20b", "%C3%BC", "semi;colon"])
def test_bad_user_id_is_a_422(client, headers, user):
    response = post(client, headers, user=user)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["path", "user_id"]


def test_user_id_accepts_its_whole_charset(client, headers):
    user = "Az09._:-" + "x" * 120
    assert post(client, headers, user=user).status_code == 201


def test_malformed_json_is_400(client, headers):
    response = client.post(
        "/v1/users/u/sessions", content=b'{"exercise": ', headers=headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(client, headers, content_type):
    sent = headers | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/v1/users/u/sessions", content=b"{}", headers=sent)
    assert response.status_code == 415 and response.json()["status"] == 415


def test_body_over_one_mib_is_413_by_declared_length(client, headers):
    body = session_body(notes="x" * 1000)
    padded = b'{"pad": "' + b" " * (1024 * 1024) + b'"}'
    response = client.post(
        "/v1/users/u/sessions", content=padded, headers=headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["status"] == 413
    assert post(client, headers, user="u", body=body).status_code == 201


def test_body_over_one_mib_is_413_while_streaming(client, headers):
    def chunks():
        yield b'{"notes": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = client.post(
        "/v1/users/u/sessions", content=chunks(), headers=headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert client.get("/v1/users/u/sessions", headers=headers).json()["items"] == []


def test_sessions_need_the_sessions_scopes(client, auth):
    catalogue_only = auth("catalogue:read")
    reader = auth("sessions:read")
    assert post(client, catalogue_only).status_code == 403
    assert post(client, reader).status_code == 403
    assert client.get("/v1/users/u/sessions", headers=catalogue_only).status_code == 403
    assert client.get("/v1/users/u/sessions", headers=reader).status_code == 200
    assert client.delete("/v1/users/u", headers=reader).status_code == 403
    assert client.get("/v1/users/u/sessions").status_code == 401


def test_logs_never_hold_keys_or_bodies(client, auth, caplog):
    import logging

    key_headers = auth(WRITE)
    key = key_headers["Authorization"].removeprefix("Bearer ")
    marker = "private-note-5f1c"
    with caplog.at_level(logging.DEBUG):
        post(client, key_headers, body=session_body(notes=marker))
        post(client, key_headers, body=session_body(notes=marker, pain={"during": 99}))
        client.get("/v1/users/user-1/sessions", headers=key_headers)
        client.get("/v1/muscles", headers={"Authorization": "Bearer sw_wrong-key-value"})
    logged = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert key not in logged and marker not in logged and "sw_wrong-key-value" not in logged


def test_patch_with_plain_json_is_415(client, headers):
    stored = post(client, headers).json()
    response = client.patch(f"/v1/users/user-1/sessions/{stored['id']}", json={"notes": "x"}, headers=headers)
    assert response.status_code == 415


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1700000000"])
def test_timestamps_out_of_utc_range_or_not_rfc3339_are_422(client, headers, moment):
    assert post(client, headers, body=session_body(performed_at=moment)).status_code == 422
    batch = client.post(
        "/v1/sessions/batch",
        json={"sessions": [{"user_id": "u", **session_body(performed_at=moment)}]},
        headers=headers,
    )
    assert batch.status_code == 200 and batch.json()["results"][0]["status"] == 422
    assert client.get("/v1/users/u/sessions", params={"since": moment}, headers=headers).status_code == 422
    assert (
        client.get(
            "/v1/users/u/recommendation", params={"progression": "lunge-ladder", "as_of": moment}, headers=headers
        ).status_code
        == 422
    )


def test_a_patch_racing_an_erasure_answers_404_not_the_erased_session(client, headers, monkeypatch):
    """The session is erased between the PATCH's read and its update (here, in the same
    transaction, so the race is certain): the answer is 404, not a 200 with the old document."""
    from sqlalchemy import delete

    from app.sessions import service
    from app.sessions.tables import SessionRow

    stored = post(client, headers).json()
    read = service.find_session

    async def read_then_erase(*, connection, **where):
        row = await read(connection=connection, **where)
        await connection.execute(delete(SessionRow).where(SessionRow.seq == row["seq"]))
        return row

    monkeypatch.setattr(service, "find_session", read_then_erase)
    patched = client.patch(
        f"/v1/users/user-1/sessions/{stored['id']}",
        json={"notes": "later"},
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 404 and patched.headers["content-type"] == "application/problem+json"


def test_a_database_error_is_logged_without_the_session_it_refused(backend, empty_database_url, caplog):
    """A statement the database refuses: the 500 is logged by error type and SQLSTATE only,
    never with the statement's parameters or the row the database quotes back."""
    import logging

    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from app import migrate
    from app.cli import catalogue_sync
    from app.db.engines import make_engine
    from app.main import create_app
    from app.settings import Settings
    from tests.conftest import settings_for

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        if backend == "sqlite":
            connection.execute(
                text(
                    "create trigger refuse_marker before insert on session_log"
                    " when new.client_session_id = 'marker-8c1d' begin select raise(abort, 'refused'); end"
                )
            )
        else:
            marker = "check (client_session_id <> 'marker-8c1d')"
            connection.execute(text(f"alter table session_log add constraint no_marker {marker}"))
    engine.dispose()
    catalogue_sync(Settings(database_url=empty_database_url))
    app = create_app(settings_for(backend, empty_database_url))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        with Session(app.state.engine) as session:
            partner = partners.create_partner(session=session, name="logs")
            _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(WRITE))
            session.commit()
        key_headers = {"Authorization": f"Bearer {key}"}
        with caplog.at_level(logging.DEBUG):
            for trace in ("trace-route", "trace-hot"):  # the route, then the hot path (the key is known by then)
                refused = test_client.post(
                    "/v1/users/patient-42/sessions",
                    json=session_body(client_session_id="marker-8c1d", exercise="glute-bridge", faults=[]),
                    headers=key_headers | {"X-Request-ID": trace},
                )
                assert refused.status_code == 500 and refused.headers["x-request-id"] == trace
    server_records = [record for record in caplog.records if record.name != "httpx"]  # the test client's own
    logged = "\n".join(record.getMessage() + str(record.args) + str(record.exc_text) for record in server_records)
    for trace in ("trace-route", "trace-hot"):  # once each, with the method, route and request id
        where = f"database error in POST /v1/users/{{user_id}}/sessions (request {trace})"
        assert sum(record.getMessage().startswith(where) for record in server_records) == 1, logged
    assert "marker-8c1d" not in logged and "patient-42" not in logged


def test_answers_about_a_person_are_never_cached_and_never_sniffed(client, auth):
    """`Cache-Control: no-store` on every answer about a person, from the hot paths and the
    framework alike, errors included; `nosniff` on every answer; the catalogue keeps its own
    caching."""
    headers = auth(WRITE)
    answers = [
        client.post("/v1/users/private-1/sessions", json=session_body(faults=[]), headers=headers),  # hot path
        client.post("/v1/users/private-1/sessions", json=session_body(), headers=headers | {"Idempotency-Key": "n"}),
        client.get("/v1/users/private-1/sessions", headers=headers),
        client.get("/v1/users/private-1/recommendation?progression=lunge-ladder", headers=headers),
        client.get("/v1/users/private-1/routine?progression=lunge-ladder", headers=headers),
        client.post("/v1/sessions/batch", json={"sessions": [session_body(user_id="private-1")]}, headers=headers),
        client.post("/v1/recommendations/evaluate", json={"progression": "ladder", "sessions": []}, headers=headers),
        client.get("/v1/users/private-1/sessions/not-a-session", headers=headers),  # an error
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", (answer.request.url, answer.status_code)
        assert answer.headers["x-content-type-options"] == "nosniff"
    reader = auth("catalogue:read")
    for _ in range(2):  # framework, then fast path
        catalogue = client.get("/v1/muscles", headers=reader)
        assert catalogue.headers["cache-control"] == "private, max-age=300"
        assert catalogue.headers["x-content-type-options"] == "nosniff"
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("dose", "status"), [(8.0, 201), (8.5, 422), ("8", 422), (True, 422)])
def test_whole_number_floats_are_integers_as_json_schema_says(client, auth, dose, status):
    body = session_body(faults=[], target_dose=dose, sets=[{"dose": dose}])
    answer = client.post("/v1/users/floats/sessions", json=body, headers=auth(WRITE))
    assert answer.status_code == status, answer.text
    if status == 201:
        stored = answer.json()
        assert stored["target_dose"] == 8 and stored["sets"] == [{"dose": 8}]
        assert isinstance(stored["target_dose"], int)


@pytest.mark.parametrize(
    ("headers", "content"),
    [({"Content-Type": "text/plain"}, b"not json"), ({"Content-Type": "application/json"}, b"{not json")],
)
def test_the_key_is_checked_before_the_body(client, auth, headers, content):
    """Without a valid key: 401, whatever the body (no 415, no 400); with one, the body's own error."""
    for key_headers in ({}, {"Authorization": "Bearer sw_not-a-key"}):
        refused = client.post("/v1/users/order/sessions", content=content, headers=headers | key_headers)
        assert refused.status_code == 401, refused.text
    judged = client.post("/v1/users/order/sessions", content=content, headers=headers | auth(WRITE))
    assert judged.status_code in (400, 415)


@pytest.mark.parametrize("client_ids", [False, True], ids=["copy", "staged-copy"])
def test_a_batch_stores_leg_symptoms_on_its_bulk_path(client, headers, client_ids):
    """25 items: on PostgreSQL the COPY path (staged when client ids may clash), on SQLite an INSERT."""
    reaches = [None, "none", "above_knee", "below_knee"]
    items = [
        {"user_id": "bulk-legs"}
        | session_body(
            performed_at=at(i),
            client_session_id=f"legs-{i}" if client_ids else None,
            leg_symptoms={"before": reaches[i % 4], "after": reaches[(i + 1) % 4]},
        )
        for i in range(25)
    ]
    results = client.post("/v1/sessions/batch", json={"sessions": items}, headers=headers).json()["results"]
    assert [r["status"] for r in results] == [201] * 25
    stored = {s["id"]: s for s in client.get("/v1/users/bulk-legs/sessions?limit=100", headers=headers).json()["items"]}
    for item, result in zip(items, results, strict=True):
        assert (
            stored[result["session"]["id"]]["leg_symptoms"] == item["leg_symptoms"] == result["session"]["leg_symptoms"]
        )
