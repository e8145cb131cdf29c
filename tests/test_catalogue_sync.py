"""The content sync: exact, idempotent, and what the service serves afterwards."""

import shutil
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, func, select

from app import migrate
from app.catalogue import store, tables
from app.catalogue.content import CONTENT_DIR, ContentError, load_content
from app.db.engines import make_engine


@pytest.fixture
def engine(empty_database_url):
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


def _sync(engine, catalogue) -> store.SyncReport:
    with Session(engine) as session:
        report = store.sync(session=session, catalogue=catalogue)
        session.commit()
    return report


def _counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        return {m.__tablename__: session.exec(select(func.count()).select_from(m)).one() for m in tables.SYNC_ORDER}


def test_second_sync_changes_nothing(engine):
    first = _sync(engine, load_content())
    assert first.changed and sum(first.inserted.values()) == sum(_counts(engine).values())
    second = _sync(engine, load_content())
    assert not second.changed
    assert second.version == first.version


def test_stored_catalogue_reads_back_equal_to_the_files(engine):
    content = load_content()
    _sync(engine, content)
    with Session(engine) as session:
        assert store.read(session=session) == content


def _edited_content(tmp_path: Path, edit) -> Path:
    directory = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, directory)
    path = directory / "exercises.yaml"
    exercises = yaml.safe_load(path.read_text())
    edit(exercises)
    path.write_text(yaml.safe_dump(exercises, sort_keys=False))
    return directory


def test_sync_inserts_updates_and_removes_to_match_changed_files(engine, tmp_path):
    original = load_content()
    _sync(engine, original)
    before = _counts(engine)

    def edit(exercises):
        bridge = next(e for e in exercises if e["slug"] == "glute-bridge")
        exercises.append(dict(bridge, slug="single-leg-glute-bridge", name="Single-leg glute bridge"))
        bridge["name"] = "Glute bridge (renamed)"
        lunge = next(e for e in exercises if e["slug"] == "reverse-lunge")
        lunge["faults"] = [f for f in lunge["faults"] if f["code"] != "leaning_sideways"]

    changed = load_content(_edited_content(tmp_path, edit))
    assert changed.version != original.version
    report = _sync(engine, changed)
    assert report.inserted["exercise"] == 1 and report.updated["exercise"] == 1
    assert report.deleted["exercise_fault"] == 1
    with Session(engine) as session:
        assert store.read(session=session) == changed
        assert store.stored_version(session=session) == changed.version

    restored = _sync(engine, original)
    assert restored.deleted["exercise"] == 1 and restored.inserted["exercise_fault"] == 1
    assert _counts(engine) == before
    with Session(engine) as session:
        assert store.read(session=session) == original


def test_content_referring_to_a_missing_exercise_is_refused(tmp_path):
    directory = _edited_content(
        tmp_path,
        lambda exercises: exercises.__setitem__(slice(None), [e for e in exercises if e["slug"] != "reverse-lunge"]),
    )
    with pytest.raises(ContentError, match="reverse-lunge"):
        load_content(directory)
