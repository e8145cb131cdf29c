"""Schemathesis, all checks, against the checked-in openapi/openapi.json and a running
`stepwise serve` with a valid key, on SQLite and on PostgreSQL. The findings judged false
positives are listed, with their reasons, in tests/schemathesis_hooks.py; anything else fails.

Bounded for CI: STEPWISE_SCHEMATHESIS_EXAMPLES examples per operation (default 10) in every
phase (examples, coverage, fuzzing, stateful), and a time limit on the whole run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.schemathesis_hooks import FALSE_POSITIVES, judged_false_positive
from tests.servers import serving_process

ROOT = Path(__file__).parent.parent
SPEC = ROOT / "openapi" / "openapi.json"
EXAMPLES = int(os.environ.get("STEPWISE_SCHEMATHESIS_EXAMPLES", "10"))


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if not found:
        pytest.fail("schemathesis is not installed: it is in the dev extras (pip install -e '.[dev]')")
    return [found]


def test_schemathesis_finds_nothing_with_all_checks(backend, empty_database_url, tmp_path):
    env = os.environ | {
        "DATABASE_URL": empty_database_url,
        # Thousands of requests, many with a wrong key, from one address: not what the limits are for.
        "STEPWISE_RATE_LIMIT_PER_MINUTE": "10000000",
        "STEPWISE_AUTH_FAILURES_PER_MINUTE": "1000000",
    }
    with serving_process([sys.executable, "-m", "app"], env=env, cwd=tmp_path) as (_, base, key):
        run = subprocess.run(
            [
                *schemathesis_command(),
                "run",
                str(SPEC),
                "--url",
                base,
                "--header",
                f"Authorization: Bearer {key}",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--generation-database",
                "none",
                "--no-color",
            ],
            env=os.environ | {"SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    summary = run.stdout[run.stdout.find("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout[-3000:]
    print(f"schemathesis on {backend}:\n{summary}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Selected: " in run.stdout and "Tested: " in run.stdout


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
