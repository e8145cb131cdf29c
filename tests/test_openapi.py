"""The checked-in OpenAPI document is what the app serves, and declares every error response."""

import json
from pathlib import Path

from fastapi.testclient import TestClient

from app.cli import openapi_document
from app.main import create_app
from tests.conftest import settings_for

SPEC_PATH = Path(__file__).parent.parent / "openapi" / "openapi.json"
REGENERATE = "stepwise openapi --write openapi/openapi.json"


def test_checked_in_spec_matches_the_app():
    assert SPEC_PATH.read_text(encoding="utf-8") == openapi_document(), f"openapi.json drifted; run `{REGENERATE}`"


def test_served_spec_is_the_checked_in_one(client):
    assert client.get("/openapi.json").json() == json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_every_operation_has_summary_tags_and_problem_errors():
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(operations) >= 11
    for path, method, operation in operations:
        assert operation["summary"] and operation["tags"], path
        expected = {"401", "403", "422"} if path.startswith("/v1/") else set()
        if path.endswith("}") and method in ("get", "patch"):  # one resource, which may not exist
            expected.add("404")
        assert expected <= set(operation["responses"]), path
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"] == problem, (path, status)
        if path.startswith("/v1/"):  # a key, or a user token except where the partner's backend alone may call
            key_only = (
                path in ("/v1/sessions/batch", "/v1/users/{user_id}/tokens")
                or (path, method) == ("/v1/users/{user_id}/clearances", "post")  # a person cannot clear themselves
                or path.startswith("/v1/webhooks")  # the partner's backend's: user tokens never manage webhooks
                or method in ("post", "put", "delete")
                and path.startswith(("/v1/exercises", "/v1/progressions"))
            )
            expected_security = [{"HTTPBearer": []}] + ([] if key_only else [{"UserToken": []}])
            assert operation["security"] == expected_security, path


def test_contract_paths_are_all_declared():
    paths = set(json.loads(SPEC_PATH.read_text(encoding="utf-8"))["paths"])
    assert {
        "/v1/catalogue",
        "/v1/muscles",
        "/v1/equipment",
        "/v1/exercises",
        "/v1/exercises/{slug}",
        "/v1/progressions",
        "/v1/progressions/{slug}",
        "/v1/routines",
        "/v1/routines/{slug}",
        "/v1/users/{user_id}/clearances",
        "/healthz",
        "/readyz",
    } <= paths


def test_the_spec_says_what_the_app_does_with_batch_items_and_patches(client, auth):
    """A batch item missing a field is that item's 422, not a refused request, so the spec
    takes any object as an item (a BatchItemIn, or any other object); a PATCH may leave `pain`
    out but not null it, so the spec does not allow null there."""
    spec = json.loads(openapi_document())
    schemas = spec["components"]["schemas"]
    items = schemas["BatchIn"]["properties"]["sessions"]["items"]["anyOf"]
    assert items[0] == {"$ref": "#/components/schemas/BatchItemIn"} and items[1]["type"] == "object"
    assert {"user_id", "exercise"} <= set(schemas["BatchItemIn"]["required"])
    assert schemas["SessionPatch"]["properties"]["pain"]["$ref"] == "#/components/schemas/PainPatch"
    headers = auth("sessions:read,sessions:write")
    item = {"exercise": "reverse-lunge", "performed_at": "2026-11-20T07:30:00Z", "target_dose": 8}
    judged = client.post("/v1/sessions/batch", json={"sessions": [item]}, headers=headers)
    assert judged.status_code == 200 and judged.json()["results"][0]["status"] == 422
    stored = client.post(
        "/v1/users/spec-check/sessions",
        json=item | {"sets": [{"dose": 8}], "pain": {"during": 1}},
        headers=headers,
    ).json()
    nulled = client.patch(
        f"/v1/users/spec-check/sessions/{stored['id']}",
        content=b'{"pain": null}',
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )
    assert nulled.status_code == 422


def test_red_flag_codes_in_the_spec_are_the_ones_the_service_takes(client, auth):
    """Requests name the red-flag codes as an enum: exactly those of GET /v1/safety, and each is
    taken; answers keep plain strings, so a code added later breaks no client."""
    headers = auth("catalogue:read,sessions:read,sessions:write")
    served = [flag["code"] for flag in client.get("/v1/safety", headers=headers).json()["red_flags"]]
    schemas = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]
    for name in ("SessionIn", "BatchItemIn", "EvaluatedSessionIn"):
        assert schemas[name]["properties"]["red_flags"]["items"]["enum"] == served, name
    assert "enum" not in schemas["SessionOut"]["properties"]["red_flags"]["items"]
    item = {"exercise": "reverse-lunge", "performed_at": "2026-11-20T07:30:00Z", "target_dose": 8}
    item |= {"sets": [{"dose": 8}], "pain": {"during": 1}, "red_flags": served}
    assert client.post("/v1/users/flags/sessions", json=item, headers=headers).status_code == 201
    misspelt = client.post("/v1/users/flags/sessions", json=item | {"red_flags": ["saddle_numb"]}, headers=headers)
    assert misspelt.status_code == 422


def test_every_field_and_parameter_is_described_and_every_body_has_an_example():
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    undescribed = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, property_ in schema.get("properties", {}).items()
        if not property_.get("description")
    ]
    assert undescribed == []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (method, path, parameter["name"])
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                schema = content["schema"]
                if "$ref" in schema:
                    schema = schemas[schema["$ref"].rpartition("/")[2]]
                assert content.get("example") or content.get("examples") or schema.get("examples"), (
                    method,
                    path,
                    media_type,
                )


def test_a_405_names_every_method_of_the_path_and_builds_no_openapi_document(database_url, backend):
    """`Allow` comes from the app's routes: /docs (no operation of the document) answers 405
    with GET and HEAD, and neither a 405, a body's check nor a CORS preflight builds the
    OpenAPI document (about a quarter of a second on a worker's first such request)."""
    app = create_app(settings_for(backend, database_url))
    with TestClient(app) as client:
        docs = client.post("/docs")
        assert (docs.status_code, docs.headers["allow"]) == (405, "GET, HEAD")
        muscles = client.put("/v1/muscles", json={})
        assert (muscles.status_code, muscles.headers["allow"]) == (405, "GET, HEAD")
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        client.options("/v1/users/u/sessions", headers=preflight)
        client.post("/v1/users/u/sessions", content=b"{}", headers={"Content-Type": "application/json"})
        assert app.openapi_schema is None
