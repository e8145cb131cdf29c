"""An erased user's free text is gone from the database's files, not only from its answers.

On the embedded default (SQLite): deleted rows are zeroed in the file (`secure_delete`) and the
write-ahead log is checkpointed and truncated after an erasure. The test writes a note, a
clearance note and an outcome note (and an idempotent write, whose stored answer holds the
note), finds their text in the files, erases the user, and finds it nowhere."""

import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.main import create_app
from app.partners import service as partners
from app.settings import Settings
from tests.factories import session_body

WRITER = "catalogue:read,sessions:read,sessions:write"


def _files_containing(database: Path, text: bytes) -> list[str]:
    return [path.name for path in database.parent.glob(database.name + "*") if text in path.read_bytes()]


def test_an_erased_users_notes_are_in_no_sqlite_file(tmp_path):
    database = tmp_path / "erasure.db"
    url = f"sqlite:///{database}"
    upgraded = subprocess.run(
        [sys.executable, "-m", "app", "catalogue", "sync"], env=os.environ | {"DATABASE_URL": url}, capture_output=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    secret = f"knee-clinic-{uuid.uuid4().hex}".encode()
    note = secret.decode()
    with TestClient(create_app(Settings(database_url=url))) as client:
        with Session(client.app.state.engine) as session:
            partner = partners.create_partner(session=session, name="erasing")
            _, key = partners.issue_key(session=session, partner=partner, scopes=partners.parse_scopes(WRITER))
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        stored = client.post("/v1/users/u-1/sessions", json=session_body(notes=note), headers=headers)
        assert stored.status_code == 201, stored.text
        once = headers | {"Idempotency-Key": "erase-me"}
        body = session_body(client_session_id="again", notes=note)
        assert client.post("/v1/users/u-1/sessions", json=body, headers=once).status_code == 201
        cleared = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        clearance = {"cleared_at": cleared, "note": note}
        assert client.post("/v1/users/u-1/clearances", json=clearance, headers=headers).status_code == 201
        score = {"instrument": "odi", "score": 30, "recorded_at": cleared, "note": note}
        assert client.post("/v1/users/u-1/outcomes", json=score, headers=headers).status_code == 201
        with sqlite3.connect(database) as connection:  # into the file itself, as SQLite's own checkpoints do
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _files_containing(database, secret) == ["erasure.db"]  # so the check below can fail

        assert client.delete("/v1/users/u-1", headers=headers).status_code == 204
        assert _files_containing(database, secret) == []
        assert client.get("/v1/users/u-1/sessions", headers=headers).json()["items"] == []
