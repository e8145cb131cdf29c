"""A partner's own content is bounded: so many exercises and ladders, so many KiB each (all
configurable). Past a limit a write is a 409 (`content-limit`) or a 413 problem that says which
limit, and nothing is stored; the partner's view is rebuilt off the event loop."""

import copy
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import MuscleList
from app.content import views
from app.main import create_app
from app.partners import service as partners
from app.settings import Settings
from tests.test_partner_content import LADDER, WALL_SIT, WRITER


@pytest.fixture
def limited(database_url, fresh_partners) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app of its own allowing 3 exercises, 1 ladder and 2 KiB a document; a writer's headers."""
    settings = Settings(
        database_url=database_url, content_max_exercises=3, content_max_ladders=1, content_max_document_kib=2
    )
    with TestClient(create_app(settings)) as client:
        with Session(client.app.state.engine) as session:
            partner = partners.create_partner(session=session, name=f"limited-{partners.secrets.token_hex(4)}")
            _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(WRITER))
            session.commit()
        yield client, {"Authorization": f"Bearer {key}"}


def exercise(slug: str) -> dict:
    return copy.deepcopy(WALL_SIT) | {"slug": slug}


def own_exercises(client: TestClient, headers: dict[str, str]) -> list[str]:
    listed = client.get("/v1/exercises", params={"limit": 100}, headers=headers).json()["items"]
    return sorted(item["slug"] for item in listed if item.get("owner") == "partner")


def test_past_the_exercise_limit_a_new_one_is_409_and_nothing_is_stored(limited):
    client, headers = limited
    for slug in ("one", "two", "three"):
        assert client.post("/v1/exercises", json=exercise(slug), headers=headers).status_code == 201
    refused = client.post("/v1/exercises", json=exercise("four"), headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/content-limit") and "3 exercises" in problem["detail"]
    assert own_exercises(client, headers) == ["one", "three", "two"]
    replaced = client.put("/v1/exercises/two", json=exercise("two") | {"name": "Wall sit, longer"}, headers=headers)
    assert replaced.status_code == 200  # a replacement adds nothing
    assert client.delete("/v1/exercises/one", headers=headers).status_code == 204
    assert client.post("/v1/exercises", json=exercise("four"), headers=headers).status_code == 201


def test_past_the_ladder_limit_a_new_one_is_409(limited):
    client, headers = limited
    assert client.post("/v1/exercises", json=exercise("wall-sit"), headers=headers).status_code == 201
    assert client.post("/v1/progressions", json=LADDER, headers=headers).status_code == 201
    refused = client.post("/v1/progressions", json=LADDER | {"slug": "another-ladder"}, headers=headers)
    assert refused.status_code == 409 and "1 ladders" in refused.json()["detail"]
    assert client.get("/v1/progressions/another-ladder", headers=headers).status_code == 404


def test_a_document_over_its_size_is_413_and_nothing_is_stored(limited):
    client, headers = limited
    large = exercise("large") | {"instructions": ["Hold the position steadily. " * 10] * 10}  # about 3 KiB
    for answer in (
        client.post("/v1/exercises", json=large, headers=headers),
        client.put("/v1/exercises/large", json=large, headers=headers),
    ):
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert "2 KiB" in answer.json()["detail"]
    assert own_exercises(client, headers) == []
    batch_sized = client.post("/v1/users/u-1/sessions", json={"exercise": "x" * 3000}, headers=headers)
    assert batch_sized.status_code == 422  # other routes keep their own limit (1 MiB)


def test_a_partner_view_is_built_in_a_worker_thread(limited, monkeypatch):
    client, headers = limited
    built_on: list[str] = []
    build = views.build_view

    def recording(*arguments):
        built_on.append(threading.current_thread().name)
        return build(*arguments)

    monkeypatch.setattr(views, "build_view", recording)
    assert client.post("/v1/exercises", json=exercise("threaded"), headers=headers).status_code == 201
    assert client.get("/v1/exercises/threaded", headers=headers).status_code == 200
    assert built_on and threading.main_thread().name not in built_on
    assert all(name.startswith("AnyIO worker thread") for name in built_on), built_on


def test_a_views_answers_are_kept_within_its_byte_budget(limited):
    client, _ = limited
    shared = client.app.state.catalogue
    small_first = shared.render(
        "/v1/muscles", "/v1/muscles", b"", "", lambda: MuscleList(items=shared.document.muscles)
    )
    budget = small_first.size() * 2 + 10
    view = LiveCatalogue(shared.document, max_cached_bytes=budget)
    whole = view.render("/v1/catalogue", "/v1/catalogue", b"", "", lambda: view.document)
    assert whole.size() > budget and view.cached_sizes()[0] == 0  # answered, not kept
    for page in range(3):  # each about half the budget: the oldest goes to make room
        view.render("/v1/muscles", f"/v1/muscles-{page}", b"", "", lambda: MuscleList(items=view.document.muscles))
    assert view.cached_sizes()[0] == 2
    assert view.cached_response("/v1/muscles-0", b"") is None and view.cached_response("/v1/muscles-2", b"") is not None


def test_a_write_checks_against_what_another_replica_wrote_meanwhile(database_url, fresh_partners):
    """Each replica checks a write against the content it holds only when no write came in
    between (the stored revision is the next one); else it reads the store."""
    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        with Session(first.app.state.engine) as session:
            partner = partners.create_partner(session=session, name=f"replicas-{partners.secrets.token_hex(4)}")
            _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(WRITER))
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        assert first.post("/v1/exercises", json=exercise("first-one"), headers=headers).status_code == 201
        assert second.post("/v1/exercises", json=exercise("wall-sit"), headers=headers).status_code == 201
        # The first replica's own view has no wall sit yet; the ladder needs it: read from the store.
        assert first.post("/v1/progressions", json=LADDER, headers=headers).status_code == 201
        assert first.delete("/v1/exercises/first-one", headers=headers).status_code == 204
        refused = second.delete("/v1/exercises/wall-sit", headers=headers)  # the ladder uses it
        assert refused.status_code == 409 and "wall-ladder" in refused.json()["detail"]
