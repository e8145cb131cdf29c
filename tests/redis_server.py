"""A `redis-server` of the test run's own (a free port, nothing saved to disk), for the tests of
rate limits shared by replicas. `.ci/run` installs Redis; elsewhere, without it, those tests
say they were skipped (and fail under CI=true)."""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.factories import free_port


def available() -> str | None:
    return None if shutil.which("redis-server") else "redis-server is not installed (apt-get install redis-server)"


@contextmanager
def redis_server() -> Iterator[str]:
    """Start one; yields its redis:// URL; stops it after."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
