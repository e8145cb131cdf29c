"""`stepwise serve` as a real process, for tests that need one: started on a free port, its demo
key read from its output, ready (`/readyz` 200) before the test goes on, stopped after."""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.factories import free_port


def start(command: list[str], *arguments: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """Start `command serve --port N ARGUMENTS` (command: e.g. [python, "-m", "app"]) with its
    output on a text pipe; returns it and its port."""
    port = free_port()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), *arguments],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, port


@contextmanager
def serving(command: list[str], *, env: dict[str, str], cwd: Path) -> Iterator[tuple[str, str]]:
    """Run `command serve --demo`; yields (base URL, demo key) once it is ready, stops it after."""
    with serving_process(command, env=env, cwd=cwd) as (_, base, key):
        yield base, key


@contextmanager
def serving_process(
    command: list[str], *, env: dict[str, str], cwd: Path
) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """`serving`, yielding the process too: (process, base URL, demo key)."""
    server, port = start(command, "--demo", env=env, cwd=cwd)
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        key = None
        while key is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line or server.poll() is None, "stepwise serve exited early"
            if line.strip().startswith("sw_"):
                key = line.strip()
        assert key, "stepwise serve printed no demo key"
        # Keep the pipe drained; what the server writes stays readable as `server.captured`.
        captured: list[str] = []
        server.captured = captured  # type: ignore[attr-defined]
        threading.Thread(target=lambda: captured.extend(server.stdout), daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "stepwise serve did not become ready"
            time.sleep(0.1)
        yield server, base, key
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def in_thread(app) -> Iterator[str]:
    """`app` served by a real uvicorn on a free port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def answered_already(sockets: list[socket.socket]) -> list[bytes]:
    """What the server already sent on each of `sockets` (its first 200 bytes), read without
    waiting; a socket still open and unanswered is left out."""
    answers = []
    for sock in sockets:
        sock.setblocking(False)
        try:
            answers.append(sock.recv(200))
        except BlockingIOError:
            continue  # open, waiting (for a request, or for the rest of one)
    return answers
