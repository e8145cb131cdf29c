"""Catalogue read throughput of `stepwise serve` against a bare ASGI ceiling, in one run.

    python bench/catalogue.py [--seconds 10] [--rounds 2] [--partner-content]

Starts `stepwise serve` exactly as it ships (its logging included) on a fresh SQLite database,
and a bare ASGI app (uvicorn + uvloop + httptools) answering the same bytes. Each URL is loaded
with `wrk -t1 -c32`, alternating service and ceiling; the server is pinned to CPU 0 and wrk to
CPU 1. Prints requests/s, the ratio service/ceiling (best round of each), and the server's RSS.
With `--partner-content`, the demo partner first publishes an exercise and a ladder of its own,
so the figures are those of a partner with a view of its own (its own answers, found after its
key). Needs `wrk` (Debian package `wrk`).
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, rss_mb, start_bare, start_stepwise, stop, wait_ready, wrk  # noqa: E402

URLS = ["/v1/exercises/reverse-lunge", "/v1/exercises?limit=20", "/v1/catalogue"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partner-content", action="store_true", help="measure a partner with content of its own")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="stepwise-bench-"))
    env = clean_env()
    service, service_port, key = start_stepwise(work, env)
    bare = None
    try:
        if args.partner_content:
            publish_partner_content(f"http://127.0.0.1:{service_port}", key)
        recorded = {}
        for url in URLS:
            response = httpx.get(f"http://127.0.0.1:{service_port}{url}", headers={"Authorization": f"Bearer {key}"})
            response.raise_for_status()
            keep = ("content-type", "etag", "cache-control", "vary", "link", "x-request-id")
            recorded[url] = {
                "headers": [[k, v] for k, v in response.headers.items() if k in keep]
                + [["content-length", str(len(response.content))]],
                "body": response.text,
            }
        responses_file = work / "responses.json"
        responses_file.write_text(json.dumps(recorded))
        bare, bare_port = start_bare(responses_file, env)
        wait_ready(bare_port, URLS[0])
        print(
            f"wrk -t1 -c32 -d{args.seconds}s, best of {args.rounds} alternating rounds; server on CPU 0, wrk on CPU 1"
        )
        print(f"{'url':34} {'bare req/s':>11} {'stepwise req/s':>15} {'ratio':>6}  body bytes")
        for url in URLS:
            best = {"bare": 0.0, "stepwise": 0.0}
            for _ in range(args.rounds):
                best["bare"] = max(best["bare"], wrk(bare_port, url, key, args.seconds)[0])
                best["stepwise"] = max(best["stepwise"], wrk(service_port, url, key, args.seconds)[0])
            ratio = best["stepwise"] / best["bare"]
            print(f"{url:34} {best['bare']:11.0f} {best['stepwise']:15.0f} {ratio:6.2f}  {len(recorded[url]['body'])}")
        print(f"stepwise serve RSS: {rss_mb(service.pid):.1f} MB")
    finally:
        stop(service, bare)
        shutil.rmtree(work, ignore_errors=True)


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
