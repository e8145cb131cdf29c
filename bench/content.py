"""A partner filling its own content to the limits: the server's memory, and another partner's
latency while it writes.

    python bench/content.py [--postgres]

`stepwise serve` (pinned to CPU 0) on the embedded default (or a fresh PostgreSQL database);
partner A publishes exercises of about 62 KiB each (30 instructions of 2,000 characters, close
to the 64 KiB a document may be) up to the exercise limit (500), then ladders up to the ladder
limit (100), and one more of each (refused, 409). Meanwhile partner B reads `/v1/muscles` every
20 ms. Prints the server's RSS before and after, and B's p50, p99 and worst latency while A
writes next to B's p50 with A idle (the baseline, measured in the same run).
"""

import argparse
import copy
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from common import clean_env, create_partner, rss_mb, start_stepwise, stop  # noqa: E402
from ingest import drop_database, fresh_database  # noqa: E402

from tests.test_partner_content import LADDER, WALL_SIT  # noqa: E402


def large_exercise(number: int) -> dict:
    return copy.deepcopy(WALL_SIT) | {
        "slug": f"big-{number}",
        "instructions": [f"Step {i} of exercise {number}. " + "Hold steady and breathe. " * 78 for i in range(30)],
    }


def reader(base: str, key: str, stop_at: threading.Event, latencies: list[float], errors: list[int]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        while not stop_at.is_set():
            started = time.perf_counter()
            answer = client.get("/v1/muscles")
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                errors.append(answer.status_code)
            time.sleep(0.02)


def measure_reads(base: str, key: str, during) -> tuple[list[float], list[int]]:
    stop_at, latencies, errors = threading.Event(), [], []
    thread = threading.Thread(target=reader, args=(base, key, stop_at, latencies, errors))
    thread.start()
    try:
        during()
    finally:
        stop_at.set()
        thread.join()
    return latencies, errors


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        database_url = fresh_database() if args.postgres else f"sqlite:///{workdir}/bench.db"
        try:
            env = clean_env(DATABASE_URL=database_url, STEPWISE_LOG_LEVEL="warning")
            server, port, _ = start_stepwise(Path(workdir), env)
            writer = create_partner(env, "filler", "catalogue:read,catalogue:write")
            other = create_partner(env, "other", "catalogue:read")
            base = f"http://127.0.0.1:{port}"
            try:
                idle, _ = measure_reads(base, other, lambda: time.sleep(5))
                before = rss_mb(server.pid)
                statuses: dict[int, int] = {}
                document = len(httpx.Request("POST", "/", json=large_exercise(0)).read())

                def fill() -> None:
                    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {writer}"}, timeout=60) as c:
                        c.post("/v1/exercises", json=copy.deepcopy(WALL_SIT))  # the ladders' bottom step
                        for number in range(500):  # the 500th is one too many
                            status = c.post("/v1/exercises", json=large_exercise(number)).status_code
                            statuses[status] = statuses.get(status, 0) + 1
                        for number in range(101):
                            status = c.post("/v1/progressions", json=LADDER | {"slug": f"ladder-{number}"}).status_code
                            statuses[status] = statuses.get(status, 0) + 1
                        c.get("/v1/catalogue")  # the partner's whole view, rendered

                started = time.monotonic()
                busy, errors = measure_reads(base, other, fill)
                took = time.monotonic() - started
                after = rss_mb(server.pid)
            finally:
                stop(server)
        finally:
            if args.postgres:
                drop_database(database_url)
    print(
        f"{'PostgreSQL' if args.postgres else 'SQLite'}: 501 exercises of {document / 1024:.1f} KiB and 101 ladders "
        f"posted in {took:.0f} s (with the wall sit, 501 exercises); answers {dict(sorted(statuses.items()))}"
    )
    print(f"server RSS: {before:.0f} MiB before, {after:.0f} MiB after: +{after - before:.0f} MiB")
    print(f"other partner, A idle:    p50 {quantile(idle, 0.5):.1f} ms, p99 {quantile(idle, 0.99):.1f} ms")
    ratio = quantile(busy, 0.5) / quantile(idle, 0.5)
    print(
        f"other partner, A writing: p50 {quantile(busy, 0.5):.1f} ms ({ratio:.2f}x), "
        f"p99 {quantile(busy, 0.99):.1f} ms, worst {max(busy) * 1000:.0f} ms, errors {len(errors)} of {len(busy)}"
    )
    print(f"(median of the idle run {statistics.median(idle) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
