"""The docs' shell blocks, run as a reader runs them: found in the Markdown, run by bash in a
directory laid out like the clone, and their answers read back.

The docs talk to `localhost:8000`, where a reader runs `stepwise serve`. A test's server listens
on a free port instead, so the commands are not changed: curl is pointed there by its own
configuration (`connect-to` in a `.curlrc` read through CURL_HOME)."""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
DOCUMENTED_ADDRESSES = ("localhost:8000", "127.0.0.1:8000")  # where the docs' commands send their requests
_SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def shell_blocks(markdown: str) -> list[str]:
    return _SHELL_BLOCK.findall(markdown)


def section(markdown: str, heading: str) -> str:
    """The text under `## heading`, its subsections included, up to the next `## ` heading."""
    _, found, rest = markdown.partition(f"\n## {heading}\n")
    assert found, f"no section '## {heading}'"
    return rest.split("\n## ", 1)[0]


def reader_directory(directory: Path) -> Path:
    """`directory` laid out as the clone is where a reader types the commands: `.venv` (this
    interpreter's, with `stepwise` and the dev tools), `openapi/`, `tests/` and `examples/`."""
    if sys.prefix != sys.base_prefix:  # a virtual environment: linked whole, so its python finds pyvenv.cfg
        (directory / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    else:
        (directory / ".venv").mkdir()
        (directory / ".venv" / "bin").symlink_to(Path(sys.executable).parent, target_is_directory=True)
    for name in ("openapi", "tests", "examples"):
        (directory / name).symlink_to(ROOT / name, target_is_directory=True)
    return directory


def curl_to(port: int, directory: Path) -> dict[str, str]:
    """The environment that sends curl's requests for the documented address to `port`."""
    lines = [f'connect-to = "{address}:127.0.0.1:{port}"' for address in DOCUMENTED_ADDRESSES]
    (directory / ".curlrc").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"CURL_HOME": str(directory)}


@contextmanager
def shell(script: str, *, cwd: Path, env: dict[str, str], timeout: float = 60) -> Iterator[str]:
    """Run `script` with bash, stopping at the first failing command or unset variable; yields
    what it wrote to stdout. What it started in the background runs until the block ends."""
    out, err = cwd / "shell.out", cwd / "shell.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", f"set -euo pipefail\n{script}"],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: background jobs are stopped with it
        )
    try:
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        written = out.read_text(encoding="utf-8")
        assert code == 0, (
            f"the commands {'failed' if code is not None else 'timed out'} (exit {code}):\n{script}\n"
            f"stdout:\n{written[-5000:]}\nstderr:\n{err.read_text(encoding='utf-8')[-5000:]}"
        )
        yield written
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def json_values(output: str) -> list[Any]:
    """The JSON objects and arrays in `output`, in order (curl prints answers back to back,
    between lines of other text)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := min((i for i in (output.find("{", at), output.find("[", at)) if i >= 0), default=-1)) >= 0:
        try:
            value, end = decoder.raw_decode(output, at)
        except json.JSONDecodeError:
            at += 1
            continue
        values.append(value)
        at = end
    return values
