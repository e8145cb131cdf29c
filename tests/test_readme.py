"""The README's set-up commands are the ones CI runs, and its worked example is the service's answer."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [block.strip() for block in _shell_blocks(setup)]
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


def _worked_example() -> tuple[list[tuple[str, dict]], str, dict]:
    """The README's "Log two sessions, get the next step": its POSTs (path, body), its GET and the
    answer it shows, as parsed from its curl and JSON blocks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Log two sessions, get the next step", 1)[1].split("\n#", 1)[0]
    [curls] = _shell_blocks(section)
    posts = re.findall(r"localhost:8000(/v1/users/[^/\s]+/sessions) -d '(\{.*?\})'", curls, flags=re.S)
    [get] = re.findall(r'"localhost:8000(/v1/users/[^"\s]+/recommendation\?[^"\s]+)"', curls)
    [shown] = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    return [(path, json.loads(body)) for path, body in posts], get, json.loads(shown)


def test_the_readme_worked_example_answers_as_shown(client, auth):
    """Everything the README shows is the service's answer, but the session ids (random): those
    are the two sessions just posted, shown shortened."""
    posts, get, shown = _worked_example()
    assert len(posts) == 2 and get.endswith("&as_of=2026-11-25T08:00:00Z")
    headers = auth("sessions:read,sessions:write")
    stored = []
    for path, body in posts:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        stored.append(response.json()["id"])
    answer = client.get(get, headers=headers)
    assert answer.status_code == 200, answer.text
    answer = answer.json()
    assert [reason["session_ids"] for reason in answer["reasons"]] == [stored]
    assert [len(reason["session_ids"]) for reason in shown["reasons"]] == [len(stored)]
    assert all(re.fullmatch(r"[0-9a-f]{8}\.\.\.", i) for reason in shown["reasons"] for i in reason["session_ids"])
    for reasons in (answer["reasons"], shown["reasons"]):
        for reason in reasons:
            reason.pop("session_ids")
    assert answer == shown
