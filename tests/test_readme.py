"""The README's set-up commands are the ones CI runs, and its "Try it" runs as written. (Its
example answers are compared with the service's by tests/test_docs_examples.py.)"""

import os
import re
import sys
import time
from pathlib import Path

import httpx

from tests.docs_shell import curl_to, json_values, reader_directory, section, shell, shell_blocks
from tests.servers import serving

ROOT = Path(__file__).parent.parent
FRONTEND_ORIGIN = "http://127.0.0.1:5173"


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [block.strip() for block in shell_blocks(setup)]
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    serve, test = commands
    assert serve.endswith("stepwise serve") and test.endswith("pytest")
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci_lines


def test_the_project_explains_itself_without_pointing_outside_the_repository():
    """Partners get the rules from docs/rules.md; nothing refers them to files they do not have."""
    texts = [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "app").rglob("*.py"),
        *(ROOT / "app").rglob("*.yaml"),
        *(ROOT / "migrations").rglob("*.py"),
    ]
    assert not [
        p.name
        for p in texts
        if re.search(r"\.\./shared|shared/spec|progression\.md|contract\.md", p.read_text(encoding="utf-8"))
    ]
    rules = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for term in ("min_rest_hours", "unmet", "resume", "red_flag", "too_soon", "next_morning_missing", "GET /v1/safety"):
        assert term in rules
    assert "docs/rules.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def _eventually(check, timeout: float = 10.0):
    """`check()`'s first true answer within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
    return found


def _answer(url: str, **options) -> httpx.Response | None:
    try:
        return httpx.request(url=url, **options)
    except httpx.TransportError:
        return None


def test_try_it_runs_top_to_bottom_as_written(tmp_path):
    """Every shell block of "Try it", in order, in one bash that stops at the first failing
    command or unset variable, in a directory laid out like the clone, against a fresh
    `stepwise serve` on its embedded default (./stepwise.db). Then what the reader would open in
    a browser works: the page is served, its origin is allowed, and Maria's token reads the two
    sessions the block logged."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = "\n".join(shell_blocks(section(readme, "Try it")))
    directory = reader_directory(tmp_path)
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    with serving([sys.executable, "-m", "app"], env=env, cwd=directory) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        with shell(commands, cwd=directory, env=env | curl_to(port, directory), timeout=120) as output:
            answers = json_values(output)
            problems = [answer for answer in answers if isinstance(answer, dict) and "status" in answer]
            assert not problems and len(answers) >= 6, output  # 3 catalogue reads, 2 sessions, the next step
            [token] = re.findall(
                rf"^{re.escape(FRONTEND_ORIGIN)}/#api=http://127\.0\.0\.1:8000&user=maria&token=(\S+)$", output, re.M
            )
            page = _eventually(lambda: _answer(f"{FRONTEND_ORIGIN}/index.html", method="GET"))
            assert page.content == (ROOT / "examples" / "frontend" / "index.html").read_bytes()
            preflight = {"Origin": FRONTEND_ORIGIN, "Access-Control-Request-Method": "GET"}
            allowed = _eventually(
                lambda: (
                    (answer := _answer(f"{base}/v1/users/maria/sessions", method="OPTIONS", headers=preflight))
                    and answer.headers.get("access-control-allow-origin") == FRONTEND_ORIGIN
                )
            )
            assert allowed
            sessions = httpx.get(f"{base}/v1/users/maria/sessions", headers={"Authorization": f"Bearer {token}"})
            assert sessions.status_code == 200 and len(sessions.json()["items"]) == 2, sessions.text
