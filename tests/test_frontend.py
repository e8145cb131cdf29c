"""The example frontend (examples/frontend/index.html) in a real browser, because only a browser
enforces CORS: served from a second origin on 127.0.0.1, it gets a user token the test mints as
the partner's backend would, shows the user's routine (with each exercise's cues) and the
recommendation, and logs one session. Then the same page on an origin the partner did not
allow is blocked; an expired token shows a 401 and another user's id a 403, both readable by
the page because their answers carry the partner's CORS headers."""

import functools
import os
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from sqlmodel import Session

from app.main import create_app
from app.partners import service as partners
from tests import servers
from tests.browser import chromium_page
from tests.conftest import settings_for

FRONTEND = Path(__file__).parent.parent / "examples" / "frontend"
SVG = "{http://www.w3.org/2000/svg}"
SCREENSHOT = Path(os.environ.get("STEPWISE_SCREENSHOTS") or tempfile.mkdtemp(prefix="stepwise-shots-")) / "frontend.png"

pytestmark = pytest.mark.browser


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """`directory` served over HTTP on a free port of 127.0.0.1: yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[str, str]]:
    """The frontend on two origins: the first one the partner allows, the second not."""
    with static_site(FRONTEND) as allowed, static_site(FRONTEND) as elsewhere:
        yield allowed, elsewhere


@pytest.fixture
def stepwise(database_url, backend, sites) -> Iterator[tuple[str, str, object]]:
    """A partner whose frontend is at the first site, and the API served for real: (API base
    URL, the partner's key, the app)."""
    app = create_app(settings_for(backend, database_url))
    name = f"frontend-{uuid.uuid4().hex[:8]}"
    with Session(app.state.engine) as session:
        partner = partners.create_partner(session=session, name=name)
        _, key = partners.issue_key(session=session, partner=partner, scopes=frozenset(partners.SCOPES))
        partners.change_origins(session=session, name=name, add=[sites[0]], remove=[])
        session.commit()
    with servers.in_thread(app) as base:
        yield base, key, app


def history(base: str, partner: dict[str, str], user: str) -> None:
    """Ten easy days on the ladder's first step, and two ODI scores, for the page to show."""
    ladder = httpx.get(f"{base}/v1/progressions/lunge-ladder", headers=partner).json()
    first = ladder["steps"][0]
    now = datetime.now(UTC)
    for day in range(10, 0, -1):
        session = {
            "exercise": first["exercise"],
            "performed_at": (now - timedelta(days=day)).isoformat(),
            "target_dose": first["start"],
            "sets": [{"dose": first["start"]}] * first["sets"],
            "rpe": 3,
            "pain": {"before": 1, "during": 1 + day % 3, "after": 1, "next_morning": day % 2},
            "support_used": False,
        }
        stored = httpx.post(f"{base}/v1/users/{user}/sessions", json=session, headers=partner)
        assert stored.status_code == 201, stored.text
    for days, score in ((10, 40), (1, 28)):
        body = {"instrument": "odi", "score": score, "recorded_at": (now - timedelta(days=days)).isoformat()}
        assert httpx.post(f"{base}/v1/users/{user}/outcomes", json=body, headers=partner).status_code == 201


def mint(base: str, key: str, user: str, ttl: int = 900) -> str:
    minted = httpx.post(
        f"{base}/v1/users/{user}/tokens",
        json={"scopes": ["catalogue:read", "sessions:read", "sessions:write"], "ttl_seconds": ttl},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert minted.status_code == 201, minted.text
    return minted.json()["token"]


def open_page(page, site: str, base: str, token: str, user: str) -> str:
    """Load the frontend; returns the state it settles in (ready, blocked, expired, forbidden...)."""
    page.goto(f"{site}/index.html#api={base}&user={user}&token={token}")
    page.wait_for_function("document.getElementById('status').dataset.state !== 'loading'", timeout=15_000)
    return page.get_attribute("#status", "data-state")


def test_the_frontend_shows_the_routine_and_logs_a_session_from_an_allowed_origin(stepwise, sites):
    base, key, _ = stepwise
    user = f"browser-{uuid.uuid4().hex[:6]}"
    token = mint(base, key, user)
    partner = {"Authorization": f"Bearer {key}"}
    history(base, partner, user)
    routine = httpx.get(f"{base}/v1/users/{user}/routine?progression=lunge-ladder", headers=partner).json()
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        assert open_page(page, sites[0], base, token, user) == "ready", page.text_content("#status")
        assert page.text_content("#routine-name") == routine["name"]
        shown = page.eval_on_selector_all("#blocks > li", "items => items.map(i => i.dataset.exercise)")
        assert shown == [block["exercise"] for block in routine["blocks"]]
        step = routine["recommendation"]["next"]
        cues = httpx.get(f"{base}/v1/exercises/{step['exercise']}", headers=partner).json()["cues"]
        step_cues = page.eval_on_selector_all("#blocks > li.step .cues li", "items => items.map(i => i.textContent)")
        assert step_cues == cues and cues
        assert page.text_content("#action") == routine["recommendation"]["action"]
        # Under the routine: the progress chart (fetched with the token, shown as an image whose
        # alt text is the chart's own description) and the outcome trend.
        page.wait_for_function("document.getElementById('chart-image').naturalWidth > 0", timeout=15_000)
        chart = httpx.get(f"{base}/v1/users/{user}/progress.svg?progression=lunge-ladder", headers=partner).text
        assert page.get_attribute("#chart-image", "alt") == ET.fromstring(chart).find(f"{SVG}desc").text
        trend = page.text_content('#outcomes li[data-instrument="odi"]')
        assert "40 → 28 (-12)" in trend and "a change you can feel" in trend
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        print(f"screenshot of the example frontend rendering a routine: {SCREENSHOT}")

        page.fill('#sets input[name="set"] >> nth=0', str(step["dose"]))
        page.fill('input[name="during"]', "3")
        page.click("#log-form button[type=submit]")
        page.wait_for_function("document.getElementById('logged').dataset.sessionId", timeout=15_000)
        session_id = page.get_attribute("#logged", "data-session-id")
        assert errors == []
    stored = httpx.get(f"{base}/v1/users/{user}/sessions/{session_id}", headers=partner)
    assert stored.status_code == 200
    logged = stored.json()
    assert logged["exercise"] == step["exercise"] and logged["pain"]["during"] == 3
    assert [s["dose"] for s in logged["sets"]] == [step["dose"]] * step["sets"]


def test_the_same_page_on_an_origin_the_partner_did_not_allow_is_blocked(stepwise, sites):
    base, key, _ = stepwise
    user = f"browser-{uuid.uuid4().hex[:6]}"
    with chromium_page() as page:
        assert open_page(page, sites[1], base, mint(base, key, user), user) == "blocked"
        assert sites[1] in page.text_content("#status")
        assert page.is_hidden("#routine")


def test_an_expired_token_shows_401_and_another_users_id_403(stepwise, sites):
    base, key, app = stepwise
    user = f"browser-{uuid.uuid4().hex[:6]}"
    token = mint(base, key, user, ttl=60)
    secret = app.state.keys.tokens.secret
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="stepwise")
    expired = jwt.encode(claims | {"exp": int(time.time()) - 1}, secret, algorithm="HS256")
    with chromium_page() as page:
        assert open_page(page, sites[0], base, expired, user) == "expired"
        assert "401" in page.text_content("#status") and "expired" in page.text_content("#status")
    with chromium_page() as page:
        assert open_page(page, sites[0], base, token, "somebody-else") == "forbidden"
        assert "403" in page.text_content("#status")
