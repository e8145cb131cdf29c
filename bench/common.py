"""What the bench scripts share: ports, CPU pinning, starting `stepwise serve`, running wrk."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}").status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server on {port} did not become ready")


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """The server runs on CPU 0, the load generator on CPU 1 (when there are two)."""
    if os.environ.get("BENCH_NO_PINNING") or not shutil.which("taskset") or os.cpu_count() < 2:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_of(stat: str) -> float:
    """User and system CPU seconds in the text of a /proc/PID/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    return _cpu_of(Path(f"/proc/{pid}/stat").read_text())


def database_cpu_seconds() -> float:
    """User and system CPU time the PostgreSQL server's processes (postmaster, backends, the
    background ones) still running have used so far. A pooled server's backends live as long as
    its pool, so the difference over a load run is what the database did for that run."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            total += _cpu_of(text)
    return total


def clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "STEPWISE_"))} | extra


def create_partner(env: dict[str, str], name: str, scopes: str, *options: str, cwd: Path | None = None) -> str:
    """`stepwise partners create NAME --scopes SCOPES [OPTIONS]` (`python -m app`: the `app` of
    `env`'s PYTHONPATH if it names a checkout, else the venv's) on `env`'s database; returns the
    key it prints on its last line."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "partners", "create", name, "--scopes", scopes, *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"stepwise partners create {name} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.split()[-1]


def start_stepwise(
    workdir: Path, env: dict[str, str], *, demo_key: bool = True, arguments: Sequence[str] = (), pin: bool = True
) -> tuple[subprocess.Popen, int, str | None]:
    """`stepwise serve` exactly as it ships (with `arguments`), pinned to CPU 0 unless `pin` is
    False; returns it, its port and the demo key it prints on a new database (`demo_key` False:
    the database has partners already). The partner quota is raised past what wrk can send: the
    limiter still counts every request (its cost is in the figures), it just never refuses one;
    and so is the cap on connections from one address, since wrk is one address."""
    port = free_port()
    env = {
        "STEPWISE_RATE_LIMIT_PER_MINUTE": "10000000",
        "STEPWISE_MAX_CONNECTIONS_PER_CLIENT": "100000",  # wrk's connections all come from one address
    } | env  # unless the caller sets them
    argv = [str(BIN / "stepwise"), "serve", "--port", str(port), *(["--demo"] if demo_key else []), *arguments]
    server = subprocess.Popen(
        pinned(0, argv) if pin else argv,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    key = None
    for line in server.stdout if demo_key else ():
        if line.strip().startswith("sw_"):
            key = line.strip()
            break
    if demo_key and key is None:
        raise SystemExit("stepwise serve exited before printing the demo key")
    # Keep draining the server's log output so it never blocks on a full pipe.
    subprocess.Popen(["cat"], stdin=server.stdout, stdout=(workdir / "serve.log").open("w"))
    wait_ready(port, "/readyz")
    return server, port, key


def start_bare(responses_file: Path, env: dict[str, str], module: str = "bare_asgi") -> tuple[subprocess.Popen, int]:
    """A bare ASGI baseline (uvicorn + uvloop + httptools) answering recorded bytes, on CPU 0:
    `bare_asgi` (no database) or `bare_db` (the least SQL the answer needs)."""
    port = free_port()
    bare = subprocess.Popen(
        pinned(
            0,
            [
                str(BIN / "uvicorn"),
                f"{module}:app",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        ),
        cwd=HERE,
        env=env | {"BENCH_RESPONSES": str(responses_file)},
    )
    return bare, port


def wrk(
    port: int,
    path: str,
    key: str,
    seconds: int,
    script: Path | None = None,
    headers: Sequence[str] = (),
    *,
    connections: int = 32,
    pin: bool = True,
) -> tuple[float, str]:
    """Requests/s and mean latency of `wrk -t1 -c32` on CPU 1 (unless not `pin`); refuses runs
    with non-2xx answers. `headers`: extra request headers, each "Name: value", sent with every
    request."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}"]
    for header in headers:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run(
        pinned(1, [*argv, f"http://127.0.0.1:{port}{path}"]) if pin else [*argv, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers from {path}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    return rate, latency


def stop(*processes: subprocess.Popen | None) -> None:
    for process in processes:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
