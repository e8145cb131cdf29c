"""Requests per second with 1, 2 and 4 worker processes (`stepwise serve --workers N`).

    python bench/workers.py [--seconds 5] [--rounds 3] [--workers 1,2,4]

On PostgreSQL (STEPWISE_BENCH_POSTGRES_URL, default the local cluster), `stepwise serve` as it
ships, with each number of workers in turn (alternating, `--rounds` times), loaded by
`wrk -t1 -c64` on:

- GET /v1/progressions/lunge-ladder: answered from memory (CPU only);
- GET /v1/users/{id}/recommendation for a user with 10 sessions: a database read.

Nothing is pinned: the workers, wrk and PostgreSQL share every core, as they would on one
machine. Prints the machine, then the best req/s of each and its ratio to one worker. On a
machine with fewer cores than workers plus one for the load, more workers cannot help, and the
figures say how much they cost instead.
"""

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, start_stepwise, stop, wrk  # noqa: E402
from db_routes import REC_PATH, REC_QUERY, load_history  # noqa: E402
from ingest import drop_database, fresh_database  # noqa: E402

ROUTES = {
    "catalogue (memory)": "/v1/progressions/lunge-ladder",
    "recommendation (database)": REC_PATH + REC_QUERY,
}


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    return f"{os.cpu_count()} cores ({model}), {memory_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    database_url = fresh_database()
    best: dict[tuple[int, str], float] = {}
    key = None
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for round_ in range(args.rounds):
                for workers in counts if round_ % 2 == 0 else reversed(counts):
                    env = clean_env(DATABASE_URL=database_url, STEPWISE_LOG_LEVEL="warning")
                    server, port, printed = start_stepwise(
                        Path(workdir), env, demo_key=key is None, arguments=["--workers", str(workers)], pin=False
                    )
                    try:
                        if key is None:
                            key = printed
                            load_history(port, key)
                        for name, path in ROUTES.items():
                            rate, _ = wrk(port, path, key, args.seconds, connections=64, pin=False)
                            best[workers, name] = max(best.get((workers, name), 0.0), rate)
                    finally:
                        stop(server)
    finally:
        drop_database(database_url)
    print(f"machine: {machine()}")
    print(f"best of {args.rounds} runs of wrk -t1 -c64 -d{args.seconds}s, PostgreSQL, nothing pinned\n")
    print(f"{'route':28}" + "".join(f"{f'{n} worker' + ('s' if n > 1 else ''):>18}" for n in counts))
    for name in ROUTES:
        base = best[counts[0], name]
        cells = "".join(f"{f'{best[n, name]:.0f} ({best[n, name] / base:.2f}x)':>18}" for n in counts)
        print(f"{name:28}{cells}")


if __name__ == "__main__":
    main()
