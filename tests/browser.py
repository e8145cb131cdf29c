"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright for Python
(no browser download). `.ci/run` installs it; elsewhere, without it, the tests say they were
skipped (and fail under CI=true)."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("STEPWISE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        problem = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


@contextmanager
def chromium_page() -> Iterator:
    """A fresh page in a headless Chromium, closed after."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser.new_page()
        finally:
            browser.close()
