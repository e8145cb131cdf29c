"""Recommendation cost against history length, on PostgreSQL, in one run.

    python bench/recommendation.py [--seconds 10] [--sessions 100000]

Loads one user with 10 sessions and one with 100,000 (through the batch endpoint, over ladder
and non-ladder exercises), then loads GET /v1/users/{id}/recommendation for each under
`wrk -t1 -c32`, alternating, best of two rounds. Prints requests/s and mean latency for each and
the ratio of the long history's time per request to the short one's (target: under 1.2).
Server on CPU 0, wrk on CPU 1. Needs PostgreSQL (STEPWISE_BENCH_POSTGRES_URL) and `wrk`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, rss_mb, start_stepwise, stop, wrk  # noqa: E402
from ingest import drop_database, fresh_database  # noqa: E402

EXERCISES = [
    "half-squat-hold",
    "supported-reverse-lunge",
    "reverse-lunge",
    "glute-bridge",
    "kneeling-reverse-lunge",
    "long-step-reverse-lunge",
    "lateral-reverse-lunge",
]


def history(user: str, count: int, start: datetime) -> list[dict]:
    return [
        {
            "user_id": user,
            "exercise": EXERCISES[i % len(EXERCISES)],
            "performed_at": (start + timedelta(minutes=30 * i)).isoformat(),
            "target_dose": 8,
            "sets": [{"dose": 8}] * 3,
            "rpe": 3 + i % 3,
            "pain": {"during": i % 4},
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="stepwise-rec-"))
    server = None
    try:
        server, port, key = start_stepwise(work, clean_env(DATABASE_URL=url))
        start = datetime(2015, 1, 1, tzinfo=UTC)
        sessions = history("short-history", 10, start) + history("long-history", args.sessions, start)
        with httpx.Client(timeout=120) as client:
            for i in range(0, len(sessions), 500):
                response = client.post(
                    f"http://127.0.0.1:{port}/v1/sessions/batch",
                    json={"sessions": sessions[i : i + 500]},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.status_code == 200
        subprocess.run(["psql", url.replace("+psycopg", ""), "-qc", "analyze session_log"], check=True)
        as_of = (start + timedelta(minutes=30 * (args.sessions + 10))).isoformat().replace("+00:00", "Z")
        paths = {
            name: f"/v1/users/{name}/recommendation?progression=lunge-ladder&as_of={as_of}"
            for name in ("short-history", "long-history")
        }
        for name, path in paths.items():
            answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {key}"}).json()
            print(f"{name}: {answer['action']} -> {json.dumps(answer['next'])}")
        best = {name: (0.0, "") for name in paths}
        for _ in range(2):
            for name, path in paths.items():
                rate, latency = wrk(port, path, key, args.seconds)
                if rate > best[name][0]:
                    best[name] = (rate, latency)
        print(f"GET recommendation, wrk -t1 -c32 -d{args.seconds}s, best of 2 alternating rounds")
        for name in paths:
            print(f"  {name:14} {best[name][0]:8.0f} req/s  mean latency {best[name][1]}")
        ratio = best["short-history"][0] / best["long-history"][0]
        print(f"  time per request, {args.sessions} sessions vs 10: ratio {ratio:.2f}")
        print(f"stepwise serve RSS: {rss_mb(server.pid):.1f} MB")
    finally:
        stop(server)
        drop_database(url)


if __name__ == "__main__":
    main()
