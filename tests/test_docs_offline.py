"""`/docs` and `/redoc` render in a real browser with every request to another host blocked:
their scripts and styles come from the installed package, never a CDN."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.main import create_app
from app.settings import Settings
from tests import servers
from tests.browser import chromium_page

# Where the screenshots go (STEPWISE_SCREENSHOTS, or a temporary folder); printed by the test.
SCREENSHOT = Path(os.environ.get("STEPWISE_SCREENSHOTS") or tempfile.mkdtemp(prefix="stepwise-shots-")) / "docs.png"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with servers.in_thread(create_app(Settings(database_url="sqlite://"))) as base:
        yield base


def load_offline(page, url: str) -> tuple[list[str], list[str]]:
    """Open `url` with requests to any other host aborted; returns the hosts that were tried and
    the page's script errors (the lists go on filling while the test waits on the page)."""
    own, elsewhere, errors = urlsplit(url).netloc, [], []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def route(request_route) -> None:
        host = urlsplit(request_route.request.url).netloc
        if host == own:
            request_route.continue_()
        else:
            elsewhere.append(host)
            request_route.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return elsewhere, errors


def test_swagger_ui_lists_every_operation_offline(served):
    from app.openapi import document

    expected = sum(len(ops) for ops in document(create_app(Settings(database_url="sqlite://")))["paths"].values())
    with chromium_page() as page:
        tried, errors = load_offline(page, f"{served}/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        operations = page.locator(".opblock").count()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        print(f"screenshot of /docs rendered offline: {SCREENSHOT}")
    assert tried == [] and errors == []
    assert operations == expected


def test_redoc_renders_offline(served):
    with chromium_page() as page:
        tried, errors = load_offline(page, f"{served}/redoc")
        page.wait_for_selector("[data-section-id]", timeout=15_000)
        sections = page.locator("[data-section-id^='operation/']").count()
        page.screenshot(path=str(SCREENSHOT.with_name("redoc-offline.png")))
    # ReDoc's own "API docs by Redocly" logo is an <img> that removes itself when it cannot load:
    # nothing the page needs, and the one request it makes elsewhere.
    assert set(tried) <= {"cdn.redoc.ly"} and errors == []
    assert sections > 10
