"""The run reports itself: its last lines name the backends that ran, and `-m quick` is a first
check on SQLite alone."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n0", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_run_names_the_backends_its_passing_tests_ran_on():
    sqlite_only = run_pytest("tests/test_outcomes.py", "-k", "recorded_and_answered and sqlite")
    assert sqlite_only.returncode == 0, sqlite_only.stdout[-2000:]
    assert "backends: sqlite\n" in sqlite_only.stdout
    both = run_pytest("tests/test_outcomes.py", "-k", "recorded_and_answered and (sqlite or postgres)")
    lines = [line for line in both.stdout.splitlines() if line.startswith("backends: ")]
    assert lines in (["backends: sqlite, postgresql"], ["backends: sqlite"])  # without a PostgreSQL: skipped
    if lines == ["backends: sqlite"]:
        assert "PostgreSQL half NOT run" in both.stdout


def test_the_quick_subset_runs_on_sqlite_alone():
    collected = run_pytest("-m", "quick", "--collect-only", "-q")
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert len(ids) > 100
    assert all("[postgres" not in i and "[pgbouncer" not in i for i in ids)
    assert {i.split("::")[0] for i in ids} >= {"tests/test_sessions.py", "tests/test_recommendations.py"}
