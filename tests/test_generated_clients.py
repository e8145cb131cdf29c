"""Clients generated from the checked-in openapi/openapi.json work against a running server:
Python (openapi-python-client: every module imports; one read, one write and the PATCH), and,
with node and npm, TypeScript (openapi-typescript types and openapi-fetch calls, `tsc --strict`,
the same calls run with node). Each step has a time limit; the npm packages are pinned in
tests/clients/typescript/package-lock.json."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.servers import serving

ROOT = Path(__file__).parent.parent
SPEC = ROOT / "openapi" / "openapi.json"
CLIENTS = Path(__file__).parent / "clients"
BIN = Path(sys.executable).parent


def run(command: list[str], cwd: Path, timeout: float) -> str:
    # The venv's bin first: openapi-python-client formats what it generates with the venv's ruff.
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """`stepwise serve --demo` on a SQLite file of its own: (base URL, demo key)."""
    directory = tmp_path_factory.mktemp("clients-server")
    env = os.environ | {"DATABASE_URL": f"sqlite:///{directory / 'stepwise.db'}"}
    with serving([sys.executable, "-m", "app"], env=env, cwd=directory) as served:
        yield served


def test_the_generated_python_client_imports_and_calls_the_api(server, tmp_path):
    base, key = server
    generator = shutil.which("openapi-python-client", path=str(BIN))
    assert generator, "openapi-python-client is not installed: it is in the dev extras"
    run([generator, "generate", "--path", str(SPEC), "--output-path", str(tmp_path / "client")], tmp_path, 120)
    user = f"py-{uuid.uuid4().hex[:8]}"
    out = run(
        [sys.executable, str(CLIENTS / "python_check.py"), str(tmp_path / "client"), base, key, user], tmp_path, 60
    )
    print(f"python client: {out.strip()}")
    assert '"action": "' in out


def test_the_generated_typescript_client_type_checks_and_calls_the_api(server, tmp_path):
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        if IN_CI:
            pytest.fail("CI=true but node/npm are not installed")
        pytest.skip("node and npm not installed: the TypeScript client check needs them")
    base, key = server
    project = tmp_path / "typescript"
    shutil.copytree(CLIENTS / "typescript", project, ignore=shutil.ignore_patterns("node_modules", "dist"))
    run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], project, 180)
    tools = project / "node_modules" / ".bin"
    # Fields with a default are optional to send: without this flag openapi-typescript makes them required.
    generate = [str(tools / "openapi-typescript"), str(SPEC), "--default-non-nullable", "false", "-o", "src/schema.ts"]
    run(generate, project, 60)
    run([str(tools / "tsc"), "-p", "."], project, 120)  # tsconfig.json: strict, and stricter
    user = f"ts-{uuid.uuid4().hex[:8]}"
    out = run([node, "dist/check.js", base, key, user], project, 60)
    print(f"typescript client: {out.strip()}")
    assert '"action":"' in out
