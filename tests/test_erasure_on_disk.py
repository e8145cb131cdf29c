"""An erased user's free text is gone from the database's files, not only from its answers.

Notes are never written in clear: each is sealed under its user's key, and that key (wrapped
by STEPWISE_DATA_KEY, which the database never holds) is deleted with the user. The test writes
a session note, a patched note, a batch, an idempotent write (whose stored answer holds the
note), a clearance note and an outcome note; flushes everything to disk; and greps the files
(SQLite: the database and its WAL; PostgreSQL: the database's directory and pg_wal) for the
note, before and after the erasure, next to a value stored in clear that it does find.

On SQLite the erased rows are zeroed in the file (`secure_delete`) and the WAL is checkpointed
and truncated, so neither the sealed note nor the user's wrapped key is left at all. On
PostgreSQL dead row versions and WAL may keep both until they are overwritten (the deployment
guide says how long, and how to shorten it): they open with nothing the database holds."""

import base64
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from app.db.engines import make_engine
from app.sealing import crypto
from tests.conftest import deployed
from tests.factories import session_body

WRITER = "catalogue:read,sessions:read,sessions:write"


def _database_files(url: str) -> list[Path]:
    """Every file of the database, all written out to them."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            database = Path(engine.url.database or "")
            with sqlite3.connect(database) as connection:  # into the file itself, as SQLite's own checkpoints do
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return list(database.parent.glob(database.name + "*"))
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("CHECKPOINT")
            directory = Path(connection.exec_driver_sql("show data_directory").scalar_one())
            oid = connection.exec_driver_sql("select oid from pg_database where datname = current_database()")
            mine = directory / "base" / str(oid.scalar_one())
    finally:
        engine.dispose()
    if not os.access(mine, os.R_OK | os.X_OK):
        pytest.skip(f"PostgreSQL's files ({mine}) are not readable here: run as root or postgres, on its machine")
    return [path for path in [*mine.iterdir(), *(directory / "pg_wal").iterdir()] if path.is_file()]


def _files_containing(files: list[Path], *texts: str) -> list[str]:
    found = []
    for name, content in _contents(files):
        found += [name for t in texts if t.encode() in content]
    return sorted(set(found))


def _contents(files: list[Path]) -> Iterator[tuple[str, bytes]]:
    for path in files:
        try:
            yield path.name, path.read_bytes()
        except FileNotFoundError:  # a server's scratch file (pg_internal.init), gone since listed
            continue


def _binary_in(files: list[Path], raw: bytes) -> bool:
    return any(raw in content for _, content in _contents(files))


def _stored(url: str, sql: str) -> list:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = list(connection.execute(text(sql)).scalars())
    engine.dispose()
    return found


def test_an_erased_users_notes_are_in_no_database_file(backend, empty_database_url):
    url = empty_database_url
    data_key = base64.b64encode(os.urandom(32)).decode()
    note = f"knee-clinic-{uuid.uuid4().hex}"
    in_clear = f"clear-{uuid.uuid4().hex[:16]}"  # a client_session_id: stored as sent
    app, headers = deployed(backend, url, "erasing", WRITER, data_key=SecretStr(data_key))
    with TestClient(app) as client:
        stored = client.post(
            "/v1/users/u-1/sessions", json=session_body(notes=note, client_session_id=in_clear), headers=headers
        )
        assert stored.status_code == 201, stored.text
        patched = client.patch(
            f"/v1/users/u-1/sessions/{stored.json()['id']}",
            json={"notes": f"{note} (amended)"},
            headers=headers | {"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        once = headers | {"Idempotency-Key": "erase-me"}
        again = session_body(client_session_id="again", notes=note)
        assert client.post("/v1/users/u-1/sessions", json=again, headers=once).status_code == 201
        batch = [session_body(user_id=user, notes=f"{note} ({user})") for user in ("u-1", "u-2")]
        assert client.post("/v1/sessions/batch", json={"sessions": batch}, headers=once | {"Idempotency-Key": "b"})
        cleared = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        clearance = {"cleared_at": cleared, "note": note}
        assert client.post("/v1/users/u-1/clearances", json=clearance, headers=headers).status_code == 201
        score = {"instrument": "odi", "score": 30, "recorded_at": cleared, "note": note}
        assert client.post("/v1/users/u-1/outcomes", json=score, headers=headers).status_code == 201
        sealed = _stored(url, "select notes from session_log where user_id = 'u-1' and notes is not null")
        wrapped = _stored(url, "select wrapped from user_key where user_id = 'u-1'")
        assert len(sealed) == 3 and all(crypto.is_sealed(value) for value in sealed) and len(wrapped) == 1

        files = _database_files(url)
        assert _files_containing(files, in_clear)  # so the checks below can fail
        assert _files_containing(files, note) == []  # never written in clear
        raw_key = base64.b64decode(data_key)
        assert _files_containing(files, data_key) == [] and not _binary_in(files, raw_key)

        assert client.delete("/v1/users/u-1", headers=headers).status_code == 204
        files = _database_files(url)
        assert _files_containing(files, note) == []
        assert _stored(url, "select count(*) from user_key where user_id = 'u-1'") == [0]
        if backend == "sqlite":  # zeroed and checkpointed: not even the sealed copies are left
            assert _files_containing(files, *sealed, *wrapped) == []
        else:
            lingering = _files_containing(files, *wrapped)
            print(f"the erased user's wrapped key is still in {len(lingering)} file(s): {lingering}")
        kept = client.get("/v1/users/u-2/sessions", headers=headers).json()["items"]
        assert [item["notes"] for item in kept] == [f"{note} (u-2)"]
