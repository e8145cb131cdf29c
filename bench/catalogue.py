"""Catalogue read throughput of `stepwise serve` against a bare ASGI ceiling, in one run.

    python bench/catalogue.py [--seconds 10] [--rounds 2] [--partner-content] [--no-cors]

Starts `stepwise serve` exactly as it ships (its logging included) on a fresh SQLite database,
with the rate limiter and metrics on (as always) and the demo partner's quota raised past what
wrk can send (it counts every request, refuses none). The demo partner is then given an allowed
browser origin, https://app.example, with `stepwise partners origins demo --add ...` as an
operator would, and the bench waits until the running server answers for it; every request
(the recording and every wrk run, on both servers) sends `Origin: https://app.example`, so
the CORS layer's work is in the figures. A bare ASGI app (uvicorn + uvloop + httptools)
answers the same bytes: the answer recorded from stepwise, its CORS headers included.

Each URL is loaded with `wrk -t1 -c32`, alternating ceiling and service; the server is pinned
to CPU 0 and wrk to CPU 1. Prints, per URL, the best requests/s of each and the ratio
service/ceiling, the least CPU per request each server process used (a second view of the
same ratio, steadier on a noisy machine) and the ratio by CPU (ceiling's CPU/service's CPU),
then the server's RSS.

With `--no-cors`, no origin is allowed and requests carry no Origin header (the CORS layer is
skipped), for comparison. With `--partner-content`, the demo partner first publishes an
exercise and a ladder of its own, so the figures are those of a partner with a view of its own
(its own answers, found after its key). Needs `wrk` (Debian package `wrk`).
"""

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    BIN,
    clean_env,
    cpu_seconds,
    rss_mb,
    start_bare,
    start_stepwise,
    stop,
    wait_ready,
    wrk,
)

URLS = ["/v1/exercises/reverse-lunge", "/v1/exercises?limit=20", "/v1/catalogue"]
ORIGIN = "https://app.example"
# What the recording keeps of stepwise's answer, for the bare app to send back (content-length
# is the body's own). The access-control-* headers come only with an allowed Origin.
KEEP = (
    "content-type",
    "etag",
    "cache-control",
    "vary",
    "link",
    "x-request-id",
    "x-content-type-options",
    "access-control-allow-origin",
    "access-control-expose-headers",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partner-content", action="store_true", help="measure a partner with content of its own")
    parser.add_argument("--no-cors", action="store_true", help="allow no origin, send no Origin header")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="stepwise-bench-"))
    env = clean_env()
    service, service_port, key = start_stepwise(work, env)
    base = f"http://127.0.0.1:{service_port}"
    extra = [] if args.no_cors else [f"Origin: {ORIGIN}"]
    bare = None
    try:
        if args.partner_content:
            publish_partner_content(base, key)
        if not args.no_cors:
            allow_origin(work, env, "demo", ORIGIN)
            wait_for_origin(base, URLS[0], key, ORIGIN)
        recorded = {url: record(base, url, key, extra) for url in URLS}
        responses_file = work / "responses.json"
        responses_file.write_text(json.dumps(recorded))
        bare, bare_port = start_bare(responses_file, env)
        wait_ready(bare_port, URLS[0])
        print(
            f"wrk -t1 -c32 -d{args.seconds}s, best of {args.rounds} alternating rounds; server on CPU 0, wrk on CPU 1; "
            + ("no Origin (CORS layer skipped)" if args.no_cors else f"Origin: {ORIGIN} (allowed)")
        )
        print(
            f"{'url':28} {'req/s: bare':>11} {'stepwise':>8} {'ratio':>5}"
            f"  {'µs CPU/req: bare':>16} {'stepwise':>8} {'ratio':>5}  body bytes"
        )
        targets = {"bare": (bare_port, bare.pid), "stepwise": (service_port, service.pid)}
        for url in URLS:
            rate = {name: 0.0 for name in targets}
            cpu = {name: math.inf for name in targets}
            for _ in range(args.rounds):
                for name, (port, pid) in targets.items():
                    before = cpu_seconds(pid)
                    requests_per_second = wrk(port, url, key, args.seconds, headers=extra)[0]
                    per_request = (cpu_seconds(pid) - before) / (requests_per_second * args.seconds) * 1e6
                    rate[name] = max(rate[name], requests_per_second)
                    cpu[name] = min(cpu[name], per_request)
            print(
                f"{url:28} {rate['bare']:11.0f} {rate['stepwise']:8.0f} {rate['stepwise'] / rate['bare']:5.2f}"
                f"  {cpu['bare']:16.0f} {cpu['stepwise']:8.0f} {cpu['bare'] / cpu['stepwise']:5.2f}"
                f"  {len(recorded[url]['body'])}"
            )
        print(f"stepwise serve RSS: {rss_mb(service.pid):.1f} MB")
    finally:
        stop(service, bare)
        shutil.rmtree(work, ignore_errors=True)


def allow_origin(work: Path, env: dict[str, str], partner: str, origin: str) -> None:
    """`stepwise partners origins PARTNER --add ORIGIN`, as an operator runs it: the same
    environment and working directory as the server (its SQLite database lives there)."""
    done = subprocess.run(
        [str(BIN / "stepwise"), "partners", "origins", partner, "--add", origin],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"stepwise partners origins failed:\n{done.stdout}{done.stderr}")


def wait_for_origin(base: str, url: str, key: str, origin: str) -> None:
    """Until the running server, which reloads the partners' origins every few seconds, allows it."""
    headers = {"Authorization": f"Bearer {key}", "Origin": origin}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{base}{url}", headers=headers).headers.get("access-control-allow-origin") == origin:
            return
        time.sleep(0.2)
    raise SystemExit(f"the server did not allow {origin} within 30 s")


def record(base: str, url: str, key: str, extra: list[str]) -> dict:
    """Stepwise's answer to what wrk sends (no Accept-Encoding: the body as is), for the bare app
    to send back byte for byte."""
    headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}
    headers |= dict(header.split(": ", 1) for header in extra)
    response = httpx.get(f"{base}{url}", headers=headers)
    response.raise_for_status()
    return {
        "headers": [[k, v] for k, v in response.headers.multi_items() if k in KEEP]
        + [["content-length", str(len(response.content))]],
        "body": response.text,
    }


EXERCISE = {
    "slug": "bench-wall-sit",
    "name": "Wall sit",
    "summary": "Slide down a wall and hold.",
    "level": 2,
    "unit": "seconds",
    "per_side": False,
    "muscles": {"primary": ["gluteus-maximus"], "secondary": []},
    "equipment": ["none"],
    "instructions": ["Back to the wall.", "Slide down.", "Hold, then slide up."],
}


def publish_partner_content(base: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    httpx.post(f"{base}/v1/exercises", json=EXERCISE, headers=headers).raise_for_status()
    from app.catalogue.ladders import LadderIn

    example = LadderIn.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    step = {"exercise": "bench-wall-sit", "sets": 3, "start": 10, "target": 30, "increment": 10, "support": "none"}
    ladder = example | {"slug": "bench-ladder", "steps": [step]}
    httpx.post(f"{base}/v1/progressions", json=ladder, headers=headers).raise_for_status()


if __name__ == "__main__":
    main()
