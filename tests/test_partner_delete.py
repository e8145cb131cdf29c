"""`stepwise partners delete NAME --yes`: every row of that partner goes, in batches, and an
interrupted run resumes; another partner's rows are untouched."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from app.partners import removal
from app.partners import service as partners
from app.partners.tables import Partner
from app.webhooks.tables import WebhookEndpoint, WebhookMessage
from tests.factories import at, session_body
from tests.test_partner_content import WALL_SIT

ALL = "catalogue:read,catalogue:write,sessions:read,sessions:write"


def _rows_of(engine, partner_id: int) -> dict[str, int]:
    """The partner's rows in every table with a partner_id column, and the partner's own row."""
    tables = [table for table in SQLModel.metadata.sorted_tables if "partner_id" in table.c]
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(select(func.count()).where(table.c.partner_id == partner_id)).scalar_one()
            for table in tables
        }
        counts["partner"] = connection.execute(select(func.count()).where(Partner.id == partner_id)).scalar_one()
    return {name: count for name, count in counts.items() if count}


def _partner_with_data(client, app, make_key, name: str, users: int) -> tuple[int, dict[str, str]]:
    """A partner with sessions, clearances, outcome scores, a stored answer, an exercise of its
    own and a webhook endpoint with a message; returns its id and its key's headers."""
    headers = {"Authorization": f"Bearer {make_key(ALL, name=name)}"}
    cleared = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for number in range(users):
        user = f"user-{number}"
        for minute in range(3):
            body = session_body(client_session_id=f"{user}-{minute}", performed_at=at(minute))
            assert client.post(f"/v1/users/{user}/sessions", json=body, headers=headers).status_code == 201
        clearance = client.post(f"/v1/users/{user}/clearances", json={"cleared_at": cleared}, headers=headers)
        assert clearance.status_code == 201
        score = {"instrument": "odi", "score": 30, "recorded_at": cleared}
        assert client.post(f"/v1/users/{user}/outcomes", json=score, headers=headers).status_code == 201
    once = headers | {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = session_body(client_session_id="once", performed_at=at(10))
    assert client.post("/v1/users/user-0/sessions", json=body, headers=once).status_code == 201
    assert client.post("/v1/exercises", json=WALL_SIT, headers=headers).status_code == 201
    with Session(app.state.engine) as session:
        partner_id = session.exec(select(Partner.id).where(Partner.name == name)).one()[0]
        now = datetime.now(UTC)
        session.add(
            WebhookEndpoint(
                id=str(uuid.uuid4()),
                partner_id=partner_id,
                url="https://hooks.example/in",
                events=["session.created"],
                created_at=now,
                secret="whsec_" + "a" * 32,
            )
        )
        session.add(
            WebhookMessage(
                id=f"msg_{uuid.uuid4().hex}",
                partner_id=partner_id,
                user_id="user-0",
                type="session.created",
                body="{}",
                created_at=now,
            )
        )
        session.commit()
    return partner_id, headers


def test_delete_needs_yes_then_erases_every_row_of_that_partner_only(client, app, make_key, cli, database_url):
    leaving, headers = _partner_with_data(client, app, make_key, f"leaving-{uuid.uuid4().hex[:6]}", users=3)
    staying, _ = _partner_with_data(client, app, make_key, f"staying-{uuid.uuid4().hex[:6]}", users=2)
    name = _name_of(app, leaving)
    before_staying = _rows_of(app.state.engine, staying)
    assert {
        "session_log",
        "clearance",
        "outcome",
        "idempotency_record",
        "partner_exercise",
        "webhook_endpoint",
        "webhook_message",
        "api_key",
        "partner",
    } <= set(_rows_of(app.state.engine, leaving))

    unconfirmed = cli(database_url, "partners", "delete", name)
    assert unconfirmed.returncode == 1
    assert "10 sessions, 3 clearances, 3 outcome scores" in unconfirmed.stderr and "--yes" in unconfirmed.stderr
    assert _rows_of(app.state.engine, leaving)["session_log"] == 10  # nothing happened

    deleted = cli(database_url, "partners", "delete", name, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"partner {name!r} deleted" in deleted.stdout
    assert _rows_of(app.state.engine, leaving) == {}
    assert _rows_of(app.state.engine, staying) == before_staying
    assert _refused_within_the_key_cache_time(client, headers)
    again = cli(database_url, "partners", "delete", name, "--yes")
    assert again.returncode == 1 and "no partner named" in again.stderr


def _refused_within_the_key_cache_time(client, headers: dict[str, str]) -> bool:
    """The test app trusts a checked key for 1 s."""
    deadline = time.monotonic() + 3
    while client.get("/v1/muscles", headers=headers).status_code != 401:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _name_of(app, partner_id: int) -> str:
    with Session(app.state.engine) as session:
        return session.exec(select(Partner.name).where(Partner.id == partner_id)).one()[0]


def test_an_interrupted_delete_resumes_where_it_stopped(client, app, make_key, cli, database_url):
    partner_id, headers = _partner_with_data(client, app, make_key, f"leaving-{uuid.uuid4().hex[:6]}", users=4)
    engine = app.state.engine
    with Session(engine) as session:
        partners.set_disabled(session=session, name=_name_of(app, partner_id), disabled=True)
        session.commit()
    batches = []
    erasing = removal.delete_user_data(engine, partner_id, batch=4, done=batches.append)
    assert next(erasing) == "user keys"  # first, in one batch of 4 (each user has notes)
    assert next(erasing) == "sessions"  # in batches of 4; then the command "dies"
    erasing.close()
    assert batches == [4, 0, 4, 4, 4, 1]
    left = _rows_of(engine, partner_id)
    assert "user_key" not in left and "session_log" not in left and left["clearance"] == 4 and left["partner"] == 1
    assert _refused_within_the_key_cache_time(client, headers)  # disabled meanwhile

    resumed = cli(database_url, "partners", "delete", _name_of(app, partner_id), "--yes")
    assert resumed.returncode == 0, resumed.stderr
    assert "0 sessions, 4 clearances" in resumed.stdout
    assert _rows_of(engine, partner_id) == {}


def test_on_a_terminal_the_delete_shows_a_progress_bar(client, app, make_key, database_url):
    partner_id, _ = _partner_with_data(client, app, make_key, f"leaving-{uuid.uuid4().hex[:6]}", users=1)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "partners", "delete", _name_of(app, partner_id), "--yes"],
        env=os.environ | {"DATABASE_URL": database_url},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(60) == 0
    text = shown.decode(errors="replace")
    # the user's key, 4 sessions, a clearance, a score, a stored answer and a webhook message
    assert "erasing: 100%" in text and "9/9 [" in text and "rows/s" in text, text
    assert _rows_of(app.state.engine, partner_id) == {}
