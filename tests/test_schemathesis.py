"""Schemathesis, all checks, against the checked-in openapi/openapi.json and a running
`stepwise serve`, on SQLite and on PostgreSQL: the README's "Contract testing" command, run as
written (only its server address is this test's server), with the server settings the README
gives. The findings judged false positives are listed, with their reasons, in
tests/schemathesis_hooks.py; anything else fails.

Bounded for CI by the command itself (`--max-examples`: examples per operation in every phase)
and by a time limit on the whole run."""

import os
import re
import sys

import pytest

from tests.docs_shell import ROOT, reader_directory, section, shell, shell_blocks
from tests.schemathesis_hooks import DOCUMENT_SIZE, FALSE_POSITIVES, judged_false_positive, refused_as_too_large
from tests.servers import serving_process

SERVE, COMMANDS = shell_blocks(section((ROOT / "README.md").read_text(encoding="utf-8"), "Contract testing"))
SERVER_SETTINGS = dict(re.findall(r"(STEPWISE_[A-Z_]+)=(\S+) ", SERVE))
DOCUMENTED_URL = "http://127.0.0.1:8000"


def test_the_documented_command_is_serve_with_settings_then_schemathesis_with_the_hooks():
    settings = " ".join(f"{name}={value}" for name, value in SERVER_SETTINGS.items())
    assert SERVE.strip() == f"{settings} .venv/bin/stepwise serve", "the test starts the server the README shows"
    assert {"STEPWISE_RATE_LIMIT_PER_MINUTE", "STEPWISE_AUTH_FAILURES_PER_MINUTE"} <= set(SERVER_SETTINGS)
    assert COMMANDS.count(DOCUMENTED_URL) == 1 and "SCHEMATHESIS_HOOKS=tests.schemathesis_hooks " in COMMANDS
    assert re.search(r"--checks all\b", COMMANDS) and re.search(r"--max-examples \d+\b", COMMANDS)


def test_schemathesis_finds_nothing_with_all_checks(backend, empty_database_url, tmp_path):
    directory = reader_directory(tmp_path)
    env = os.environ | {"DATABASE_URL": empty_database_url}
    with serving_process([sys.executable, "-m", "app"], env=env | SERVER_SETTINGS, cwd=directory) as (_, base, _):
        with shell(COMMANDS.replace(DOCUMENTED_URL, base), cwd=directory, env=env, timeout=300) as output:
            summary = output[output.find("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
            print(f"schemathesis on {backend}:\n{summary}")
    assert "Selected: " in output and "Tested: " in output
    assert not re.search(r"\d+ (failures?|errors?)\b", output.splitlines()[-1]), output[-3000:]


@pytest.mark.parametrize(
    ("problem", "judged"),
    [
        ({"errors": [{"loc": ["query", "cursor"], "msg": "The cursor is not one this service issued."}]}, True),
        (
            {"errors": [{"loc": ["header", "Idempotency-Key"], "msg": "already used with a different request."}]},
            True,
        ),
        (
            {"errors": [{"loc": ["body", "sessions", 0, "faults", 1], "msg": "glute-bridge has no fault code 'x'"}]},
            True,
        ),
        ({"errors": [{"loc": ["body", "performed_at"], "msg": "is more than 5 minutes in the future"}]}, True),
        ({"errors": [{"loc": ["query", "cursor"], "msg": "Input should be a valid string"}]}, False),
        ({"errors": [{"loc": ["body", "faults", 0], "msg": "Input should be a valid string"}]}, False),
        ({"errors": [{"loc": ["query", "limit"], "msg": "The cursor is not one this service issued."}]}, False),
        (
            {
                "errors": [
                    {"loc": ["query", "cursor"], "msg": "The cursor is not one this service issued."},
                    {"loc": ["body", "rpe"], "msg": "Input should be less than or equal to 10"},
                ]
            },
            False,
        ),
        ({"errors": []}, False),
        ("not a problem", False),
    ],
)
def test_only_the_listed_false_positives_are_dropped(problem, judged):
    reason = judged_false_positive(422, problem)
    assert (reason is not None) is judged
    if judged:
        assert reason in FALSE_POSITIVES.values()
    assert judged_false_positive(400, problem) is None


def test_only_a_documents_413_is_dropped():
    document = {"status": 413, "detail": "The body is larger than 64 KiB, the most one exercise or ladder may be."}
    assert judged_false_positive(413, document) == DOCUMENT_SIZE
    assert judged_false_positive(413, {"status": 413, "detail": "The body is larger than 1 MiB."}) is None
    assert judged_false_positive(400, document) is None
    assert refused_as_too_large(413, document) and not refused_as_too_large(200, document)
