"""Rate limits across replicas: a burst on two `stepwise serve` processes sharing one Redis gets
the partner's quota once in total; in memory, each replica counts alone. Also the limiter's cost
on the catalogue fast path, Redis against memory; and the latency of requests one at a time
while Redis is up, then hung (SIGSTOP: it accepts connections and never answers), against
quotas small enough that every request goes to the limiter.

    python bench/rate_limits.py [--quota 1200] [--seconds 3]

Needs `wrk` and `redis-server` (Debian packages). Runs on a fresh SQLite database.
"""

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, free_port, pinned, start_stepwise, stop, wait_ready, wrk  # noqa: E402

PATH = "/v1/muscles"


def burst(port: int, key: str, seconds: int, results: list[tuple[int, int]]) -> None:
    """wrk -c16 on one replica; appends (answers, refused)."""
    argv = ["wrk", "-t1", "-c16", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(pinned(1, [*argv, f"http://127.0.0.1:{port}{PATH}"]), capture_output=True, text=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    results.append((total, int(refused.group(1)) if refused else 0))


def two_replicas(work: Path, quota: int, seconds: int, redis_url: str | None) -> list[tuple[int, int]]:
    database = work / f"{'redis' if redis_url else 'memory'}.db"
    env = clean_env(DATABASE_URL=f"sqlite:///{database}", STEPWISE_RATE_LIMIT_PER_MINUTE=str(quota))
    if redis_url:
        env["REDIS_URL"] = redis_url
    first, first_port, key = start_stepwise(work, env)
    second, second_port, _ = start_stepwise(work, env, demo_key=False)
    try:
        results: list[tuple[int, int]] = []
        threads = [threading.Thread(target=burst, args=(p, key, seconds, results)) for p in (first_port, second_port)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results
    finally:
        stop(first, second)


def latencies(port: int, key: str, count: int) -> tuple[list[float], dict[int, int]]:
    statuses: dict[int, int] = {}
    took = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(count):
            started = time.perf_counter()
            status = client.get(PATH).status_code
            took.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    return sorted(took), statuses


def hung_redis(work: Path, redis: subprocess.Popen, redis_url: str) -> None:
    """One replica on Redis, a quota of 1,000 a minute (under 2,000: every request is counted
    in the limiter, none batched): 300 requests one at a time with Redis up, then hung."""
    env = clean_env(DATABASE_URL=f"sqlite:///{work / 'hung.db'}", STEPWISE_RATE_LIMIT_PER_MINUTE="1000")
    env["REDIS_URL"] = redis_url
    server, port, key = start_stepwise(work, env)
    assert key is not None
    print("requests one at a time, Redis up then hung (SIGSTOP), quota 1000 a minute")
    try:
        for label in ("up", "hung"):
            if label == "hung":
                redis.send_signal(signal.SIGSTOP)
            took, statuses = latencies(port, key, 300)
            p50, p95, worst = (took[len(took) // 2], took[int(len(took) * 0.95)], took[-1])
            print(
                f"  Redis {label:5} p50 {p50 * 1000:6.2f} ms, p95 {p95 * 1000:6.2f} ms, worst {worst * 1000:6.1f} ms,"
                f" answers {dict(sorted(statuses.items()))}"
            )
    finally:
        redis.send_signal(signal.SIGCONT)
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quota", type=int, default=1200)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install -y {tool}")
    work = Path(tempfile.mkdtemp(prefix="stepwise-bench-"))
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        print(f"burst of {args.seconds} s on two replicas, wrk -c16 each, quota {args.quota} per minute")
        for label, url in (("Redis (REDIS_URL)", redis_url), ("memory (default)", None)):
            results = two_replicas(work, args.quota, args.seconds, url)
            answered = [total - refused for total, refused in results]
            print(
                f"  {label:18} answered {sum(answered):6} (replicas {answered[0]} + {answered[1]}), "
                f"429 {sum(refused for _, refused in results):6}, answered/quota {sum(answered) / args.quota:.2f}"
            )
        print("catalogue fast path, one replica, quota never reached, wrk -t1 -c32 -d4s")
        rates: dict[str, float] = {}
        speed_key = None
        for label, url in (("memory", None), ("Redis", redis_url), ("memory", None), ("Redis", redis_url)):
            env = clean_env(DATABASE_URL=f"sqlite:///{work / 'speed.db'}")
            if url:
                env["REDIS_URL"] = url
            server, port, key = start_stepwise(work, env, demo_key=speed_key is None)
            speed_key = speed_key or key
            assert speed_key is not None
            try:
                wait_ready(port)
                rate, _ = wrk(port, PATH, speed_key, 4)
                rates[label] = max(rates.get(label, 0.0), rate)
            finally:
                stop(server)
        memory, shared = rates["memory"], rates["Redis"]
        print(f"  memory {memory:.0f} req/s, Redis {shared:.0f} req/s, ratio {shared / memory:.2f}")
        hung_redis(work, redis, redis_url)
    finally:
        redis.terminate()
        redis.wait()


if __name__ == "__main__":
    main()
