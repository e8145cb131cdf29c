"""The example clients (examples/clients/) work against a running server, built and run by the
commands their README shows, exactly as written: Python through the client openapi-python-client
generates (every module it makes imports, too), and, with node and npm, TypeScript through
openapi-typescript's types and openapi-fetch (`npm ci` of the pinned package-lock.json, the only
download; `tsc` with strict settings). Each asks for the exercises, logs a session, patches it and
gets a recommendation; the session must then be stored. Every run has a time limit."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import IN_CI
from tests.docs_shell import ROOT, reader_directory, section, shell, shell_blocks
from tests.servers import serving

CLIENTS = ROOT / "examples" / "clients"
README = (CLIENTS / "README.md").read_text(encoding="utf-8")
USER = "maria"  # the examples' user


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """`stepwise serve --demo` on a SQLite file of its own: (base URL, demo key)."""
    directory = tmp_path_factory.mktemp("clients-server")
    env = os.environ | {"DATABASE_URL": f"sqlite:///{directory / 'stepwise.db'}"}
    with serving([sys.executable, "-m", "app"], env=env, cwd=directory) as served:
        yield served


def _commands(heading: str) -> str:
    [commands] = shell_blocks(section(README, heading))
    return commands


def _ran_the_example(output: str, base: str, key: str) -> None:
    """The example printed exercises and its next step, and the session it logged is stored."""
    assert re.search(r"^exercise reverse-lunge \(level 3\)", output, re.M), output
    assert re.search(r"^next step \(3\.[0-9a-f]{16}\): [a-z_]+: ", output, re.M), output
    [logged] = re.findall(r"^logged session ([0-9a-f]{32}): reverse-lunge$", output, re.M)
    stored = httpx.get(f"{base}/v1/users/{USER}/sessions/{logged}", headers={"Authorization": f"Bearer {key}"})
    assert stored.status_code == 200 and stored.json()["pain"]["next_morning"] == 1, stored.text


def test_the_python_example_runs_through_the_generated_client(server, tmp_path):
    base, key = server
    directory = reader_directory(tmp_path)
    env = os.environ | {"API": base, "KEY": key}
    with shell(_commands("Python: openapi-python-client"), cwd=directory, env=env, timeout=180) as output:
        print(f"python client:\n{output}")
    _ran_the_example(output, base, key)
    # Every module the generator made imports, not only those the example uses.
    every_module = (
        "import importlib, pkgutil, stepwise_client; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(stepwise_client.__path__, 'stepwise_client.')]"
    )
    imported = subprocess.run(
        [sys.executable, "-c", every_module],
        cwd=directory / "stepwise-client",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr[-5000:]


def test_the_typescript_example_type_checks_and_runs_through_openapi_fetch(server, tmp_path):
    if not (shutil.which("npm") and shutil.which("node")):
        if IN_CI:
            pytest.fail("CI=true but node/npm are not installed")
        pytest.skip("node and npm not installed: the TypeScript example needs them")
    base, key = server
    directory = reader_directory(tmp_path)
    # What the commands write (node_modules, the schema, dist) goes into a copy, not the repository.
    (directory / "examples").unlink()
    shutil.copytree(
        CLIENTS,
        directory / "examples" / "clients",
        ignore=shutil.ignore_patterns("node_modules", "dist", "schema.ts", "stepwise-client"),
    )
    env = os.environ | {"API": base, "KEY": key, "npm_config_audit": "false", "npm_config_fund": "false"}
    commands = _commands("TypeScript: openapi-typescript and openapi-fetch")
    with shell(commands, cwd=directory, env=env, timeout=300) as output:
        print(f"typescript client:\n{output}")
    _ran_the_example(output, base, key)
