"""Catalogue read throughput of `stepwise serve` against a bare ASGI ceiling, in one run.

    python bench/catalogue.py [--seconds 10] [--rounds 2]

Starts `stepwise serve` exactly as it ships (its logging included) on a fresh SQLite database,
and a bare ASGI app (uvicorn + uvloop + httptools) answering the same bytes. Each URL is loaded
with `wrk -t1 -c32`, alternating service and ceiling; the server is pinned to CPU 0 and wrk to
CPU 1. Prints requests/s, the ratio service/ceiling (best round of each), and the server's RSS.
Needs `wrk` (Debian package `wrk`).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

URLS = ["/v1/exercises/reverse-lunge", "/v1/exercises?limit=20", "/v1/catalogue"]
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
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") and os.cpu_count() > 1 else argv


def wrk(port: int, url: str, seconds: int, key: str) -> float:
    out = subprocess.run(
        pinned(1, ["wrk", "-t1", "-c32", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}", f"http://127.0.0.1:{port}{url}"]),
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="stepwise-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "STEPWISE_"))}
    service_port, bare_port = free_port(), free_port()
    service = subprocess.Popen(
        pinned(0, [str(BIN / "stepwise"), "serve", "--port", str(service_port)]),
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    key = None
    while key is None:
        line = service.stdout.readline()
        if not line:
            raise SystemExit("stepwise serve exited before printing the demo key")
        if line.strip().startswith("sw_"):
            key = line.strip()
    # Keep draining the server's log output so it never blocks on a full pipe.
    log_path = work / "serve.log"
    subprocess.Popen(["cat"], stdin=service.stdout, stdout=log_path.open("w"))
    wait_ready(service_port, "/readyz")

    recorded = {}
    for url in URLS:
        response = httpx.get(f"http://127.0.0.1:{service_port}{url}", headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()
        keep = ("content-type", "etag", "cache-control", "vary", "link", "x-request-id")
        recorded[url] = {
            "headers": [[k, v] for k, v in response.headers.items() if k in keep] + [["content-length", str(len(response.content))]],
            "body": response.text,
        }
    responses_file = work / "responses.json"
    responses_file.write_text(json.dumps(recorded))
    bare = subprocess.Popen(
        pinned(0, [str(BIN / "uvicorn"), "bare_asgi:app", "--port", str(bare_port), "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning"]),
        cwd=HERE, env=env | {"BENCH_RESPONSES": str(responses_file)},
    )
    try:
        wait_ready(bare_port, URLS[0])
        print(f"wrk -t1 -c32 -d{args.seconds}s, best of {args.rounds} alternating rounds; server on CPU 0, wrk on CPU 1")
        print(f"{'url':34} {'bare req/s':>11} {'stepwise req/s':>15} {'ratio':>6}  body bytes")
        for url in URLS:
            best = {"bare": 0.0, "stepwise": 0.0}
            for _ in range(args.rounds):
                best["bare"] = max(best["bare"], wrk(bare_port, url, args.seconds, key))
                best["stepwise"] = max(best["stepwise"], wrk(service_port, url, args.seconds, key))
            ratio = best["stepwise"] / best["bare"]
            print(f"{url:34} {best['bare']:11.0f} {best['stepwise']:15.0f} {ratio:6.2f}  {len(recorded[url]['body'])}")
        print(f"stepwise serve RSS: {rss_mb(service.pid):.1f} MB")
    finally:
        for process in (service, bare):
            process.terminate()
            process.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
