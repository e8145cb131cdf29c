"""Recommendation cost against history length, on PostgreSQL, in one run.

    python bench/recommendation.py [--seconds 10] [--sessions 100000] [--safety-events]

Loads one user with 10 sessions and one with 100,000 (through the batch endpoint, over ladder
and non-ladder exercises, every 30 minutes up to now), then loads
GET /v1/users/{id}/recommendation for each under `wrk -t1 -c32`, alternating, best of two
rounds. Prints requests/s and mean latency for each and the ratio of the long history's time
per request to the short one's (target: under 1.2).

With --safety-events both histories hold what a rehabilitation brings: the long one a red flag
every 1,000 sessions, each covered by a clinician's clearance recorded after it, and pain at
the stop level every 997 sessions, each followed a day later by a gentler restart (the
rotation's half-squat holds); the short one, a session a day, one of each (its second and
third sessions). Both recommendations then also read the red flags since the latest clearance
and search for the restart after the latest severe pain, which lies behind their latest
sessions: the ratio compares history lengths, not histories with and without events.

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
STEP = timedelta(minutes=30)
FLAG_EVERY, SEVERE_EVERY = 1000, 997


def history(user: str, count: int, end: datetime, *, safety_events: bool) -> list[dict]:
    """`count` sessions, the last at `end`: every 30 minutes, or with --safety-events in a short
    history, a day apart (a restart must come a day after severe pain)."""
    short = count < FLAG_EVERY
    step = timedelta(days=1) if short and safety_events else STEP
    start = end - step * (count - 1)
    sessions = []
    for i in range(count):
        flag = severe = False
        if safety_events and short:
            flag, severe = i == 1, i == 2
        elif safety_events and 0 < i < count - 50:  # none among the latest sessions
            flag, severe = i % FLAG_EVERY == 0, i % SEVERE_EVERY == 0
        sessions.append(
            {
                "user_id": user,
                "exercise": EXERCISES[i % len(EXERCISES)],
                "performed_at": (start + step * i).isoformat(),
                "target_dose": 8,
                "sets": [{"dose": 8}] * 3,
                "rpe": 3 + i % 3,
                "pain": {"during": 9 if severe else i % 4},
                "red_flags": ["constant_night_pain"] if flag else [],
            }
        )
    return sessions


def load(port: int, key: str, sessions: list[dict]) -> int:
    """Post the sessions in batches; after each batch, a clearance for each of its red flags.
    Returns how many clearances were recorded."""
    headers = {"Authorization": f"Bearer {key}"}
    cleared = 0
    with httpx.Client(timeout=120) as client:
        for i in range(0, len(sessions), 500):
            batch = sessions[i : i + 500]
            response = client.post(
                f"http://127.0.0.1:{port}/v1/sessions/batch", json={"sessions": batch}, headers=headers
            )
            assert response.status_code == 200 and all(r["status"] == 201 for r in response.json()["results"])
            for session in (s for s in batch if s["red_flags"]):
                seen = datetime.fromisoformat(session["performed_at"]) + timedelta(hours=1)
                clearance = {"cleared_at": seen.isoformat(), "note": "Seen; fine to carry on."}
                answer = client.post(
                    f"http://127.0.0.1:{port}/v1/users/{session['user_id']}/clearances", json=clearance, headers=headers
                )
                assert answer.status_code == 201, answer.text
                cleared += 1
    return cleared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--safety-events", action="store_true", help="red flags, clearances and severe pain too")
    args = parser.parse_args()
    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="stepwise-rec-"))
    server = None
    try:
        server, port, key = start_stepwise(work, clean_env(DATABASE_URL=url))
        end = datetime.now(UTC) - timedelta(minutes=10)
        sessions = history("short-history", 10, end, safety_events=args.safety_events)
        sessions += history("long-history", args.sessions, end, safety_events=args.safety_events)
        cleared = load(port, key, sessions)
        subprocess.run(["psql", url.replace("+psycopg", ""), "-qc", "analyze"], check=True)
        as_of = datetime.now(UTC).isoformat().replace("+00:00", "Z")  # after every clearance was recorded
        paths = {
            name: f"/v1/users/{name}/recommendation?progression=lunge-ladder&as_of={as_of}"
            for name in ("short-history", "long-history")
        }
        flags = sum(1 for s in sessions if s["red_flags"])
        severe = sum(1 for s in sessions if s["pain"]["during"] >= 8)
        print(f"in both histories: {flags} red flags ({cleared} clearances), {severe} sessions of severe pain")
        for name, path in paths.items():
            answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {key}"}).json()
            print(f"{name}: {answer['action']} ({answer['reasons'][0]['code']}) -> {json.dumps(answer['next'])}")
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
