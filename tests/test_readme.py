"""The README's set-up commands are the ones CI runs. (Its example answers are compared with the
service's by tests/test_docs_examples.py.)"""

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
