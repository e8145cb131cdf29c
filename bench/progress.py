"""The progress chart and document for a year of daily sessions (issue 23), in one run.

    python bench/progress.py [--users 20] [--rounds 20] [--postgres]

`stepwise serve` as it ships (pinned to CPU 0), on the embedded SQLite default or with
--postgres on a fresh PostgreSQL database (STEPWISE_BENCH_POSTGRES_URL). It loads --users users
with a session a day for a year on the lunge ladder (positions climbing, a pause and a red flag
now and then), and two ODI scores each, then times, one request at a time from this process
(pinned to CPU 1), the wall time from request to last byte of:

1. `GET /v1/users/{id}/progress.svg?since=..&until=..` (the year) for each user the first time:
   read, hashed, drawn (the server's first chart also imports the drawing library: shown apart);
2. the same URLs again: drawn before, answered from the server's memory;
3. the same with `If-None-Match`: 304, nothing drawn or sent;
4. `GET /v1/users/{id}/progress` for the year (JSON);
5. `GET /v1/users/{id}/recommendation` as the baseline: the cheapest read of the same history.

Prints p50, p90 and max in ms for each, and each p50 as a ratio to the baseline's.
The target: the first chart of a year within 100 ms.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, pinned, start_stepwise, stop  # noqa: E402
from ingest import drop_database, fresh_database  # noqa: E402

LADDER = "lunge-ladder"


def year_of_sessions(user: str, ladder: dict, end: datetime) -> list[dict]:
    """A session a day for 365 days up to `end`: each step's doses climbed in turn, a day of pain
    at the stop level every 60 days, and a red flag on day 200."""
    doses = [
        (step["exercise"], dose)
        for step in ladder["steps"]
        for dose in range(step["start"], step["target"] + 1, step["increment"])
    ]
    sessions = []
    for day in range(365):
        exercise, dose = doses[min(day // 15, len(doses) - 1)]
        severe = day % 60 == 59
        sessions.append(
            {
                "user_id": user,
                "exercise": exercise,
                "progression": LADDER,
                "performed_at": (end - timedelta(days=364 - day)).isoformat(),
                "target_dose": dose,
                "sets": [{"dose": dose}] * 3,
                "rpe": 3 + day % 3,
                "pain": {"during": 8 if severe else day % 4, "next_morning": day % 3},
                "red_flags": ["constant_night_pain"] if day == 200 else [],
            }
        )
    return sessions


def timed(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    return (time.perf_counter() - start) * 1000, response


def summary(name: str, times: list[float], baseline: float | None) -> None:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    ratio = f"  {p50 / baseline:5.2f}x the baseline" if baseline else ""
    print(f"  {name:44} p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  max {ordered[-1]:6.1f} ms  (n={len(ordered)}){ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="repeats of the cached, 304, JSON and baseline reads")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if pinned(1, []):  # two CPUs: the server has CPU 0, this process CPU 1
        os.sched_setaffinity(0, {1})
    url = fresh_database() if args.postgres else None
    work = Path(tempfile.mkdtemp(prefix="stepwise-progress-"))
    server = None
    try:
        env = clean_env(DATABASE_URL=url) if url else clean_env()
        server, port, key = start_stepwise(work, env)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        with httpx.Client(base_url=base, timeout=60) as client:
            ladder = client.get(f"/v1/progressions/{LADDER}", headers=headers).json()
            users = [f"year-{n}" for n in range(args.users)]
            for user in users:
                sessions = year_of_sessions(user, ladder, end)
                answer = client.post("/v1/sessions/batch", json={"sessions": sessions}, headers=headers)
                assert answer.status_code == 200, answer.text
                assert all(r["status"] == 201 for r in answer.json()["results"])
                for days, score in ((364, 46), (1, 30)):
                    body = {
                        "instrument": "odi",
                        "score": score,
                        "recorded_at": (end - timedelta(days=days)).isoformat(),
                    }
                    assert client.post(f"/v1/users/{user}/outcomes", json=body, headers=headers).status_code == 201
            period = {"progression": LADDER, "since": (end - timedelta(days=365)).isoformat(), "until": end.isoformat()}
            query = str(httpx.QueryParams(period))
            chart = {user: f"/v1/users/{user}/progress.svg?{query}" for user in users}
            print(
                f"stepwise serve on {'PostgreSQL' if url else 'SQLite (the embedded default)'}, {args.users} users "
                "with 365 daily sessions each, one request at a time"
            )
            first_ever, response = timed(client, chart[users[0]], headers)
            assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
            size = len(response.content)
            first = [timed(client, chart[user], headers)[0] for user in users[1:]]
            etags = {user: client.get(chart[user], headers=headers).headers["etag"] for user in users}
            cached, unchanged, document, baseline = [], [], [], []
            for _ in range(args.rounds):
                for user in users:
                    cached.append(timed(client, chart[user], headers)[0])
                    took, answer = timed(client, chart[user], headers | {"If-None-Match": etags[user]})
                    assert answer.status_code == 304
                    unchanged.append(took)
                    took, answer = timed(client, f"/v1/users/{user}/progress?{query}", headers)
                    assert answer.status_code == 200 and len(answer.json()["sessions"]) == 365
                    document.append(took)
                    baseline.append(timed(client, f"/v1/users/{user}/recommendation?progression={LADDER}", headers)[0])
            reference = statistics.median(baseline)
            kib = size / 1024
            print(f"  the first chart of the process (imports the drawing library): {first_ever:.0f} ms, {kib:.0f} KiB")
            summary("progress.svg, first time for the user (drawn)", first, reference)
            summary("progress.svg again (from memory)", cached, reference)
            summary("progress.svg with If-None-Match (304)", unchanged, reference)
            summary("progress (JSON, 365 sessions, 53 weeks)", document, reference)
            summary("recommendation (baseline)", baseline, None)
    finally:
        stop(server)
        if url:
            drop_database(url)


if __name__ == "__main__":
    main()
