"""Session ingest on PostgreSQL, next to baselines measured in the same run.

    python bench/ingest.py [--batches 20] [--seconds 10]

1. Batch endpoint: 500-session batches of valid sessions for fresh users, posted to
   `stepwise serve` (as it ships), against a plain psycopg `executemany` of the same rows into
   the same table. Prints sessions/s for each and the ratio.
2. One-session POST under `wrk -t1 -c32` against a bare ASGI app answering the same bytes
   (uvicorn + uvloop + httptools). Prints requests/s for each and the ratio.

The server is pinned to CPU 0, the load (httpx, psycopg client, wrk) to CPU 1. Needs a running
PostgreSQL (STEPWISE_BENCH_POSTGRES_URL, default the local cluster) and `wrk`.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, rss_mb, start_bare, start_stepwise, stop, wait_ready, wrk  # noqa: E402

ADMIN_URL = os.environ.get(
    "STEPWISE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)
BATCH = 500


def session_item(user: str, i: int) -> dict:
    return {
        "user_id": user,
        "exercise": "reverse-lunge",
        "performed_at": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat(),
        "target_dose": 8,
        "sets": [{"dose": 8}, {"dose": 8}, {"dose": 8}],
        "rpe": 4,
        "pain": {"before": 1, "during": 2, "after": 1, "next_morning": None},
        "faults": [],
        "duration_seconds": 420,
    }


def fresh_database() -> str:
    name = f"stepwise_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    admin.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'drop database if exists "{make_url(url).database}" with (force)'))
    admin.dispose()


COLUMNS = (
    "id",
    "partner_id",
    "user_id",
    "client_session_id",
    "exercise",
    "performed_at",
    "target_dose",
    "set_doses",
    "rpe",
    "pain_before",
    "pain_during",
    "pain_after",
    "pain_next_morning",
    "support_used",
    "faults",
    "red_flags",
    "duration_seconds",
    "notes",
    "received_at",
)


def _in_parallel(work, chunks: list, concurrency: int) -> float:
    """Run `work(chunk)` for every chunk on `concurrency` threads; returns elapsed seconds."""
    from concurrent.futures import ThreadPoolExecutor

    shares = [chunks[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(work, shares))
    return time.perf_counter() - started


def raw_executemany(url: str, partner_id: int, batches: list[list[dict]], concurrency: int = 1) -> float:
    """Sessions/s of psycopg executemany of the same rows, one transaction per batch (rows
    prepared outside the timed loop, like the API's request bodies)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sql = f"insert into session_log ({', '.join(COLUMNS)}) values ({', '.join(['%s'] * len(COLUMNS))})"
    now = datetime.now(UTC)
    prepared = [
        [
            (
                str(uuid.uuid4()),
                partner_id,
                "raw-" + s["user_id"],
                None,
                s["exercise"],
                s["performed_at"],
                s["target_dose"],
                json.dumps([x["dose"] for x in s["sets"]]),
                s["rpe"],
                s["pain"]["before"],
                s["pain"]["during"],
                s["pain"]["after"],
                None,
                False,
                "[]",
                "[]",
                s["duration_seconds"],
                None,
                now,
            )
            for s in batch
        ]
        for batch in batches
    ]

    def work(share: list) -> None:
        with psycopg.connect(conninfo) as connection:
            for rows in share:
                with connection.cursor() as cursor:
                    cursor.executemany(sql, rows)
                connection.commit()

    return sum(map(len, batches)) / _in_parallel(work, prepared, concurrency)


def through_api(port: int, key: str, batches: list[list[dict]], concurrency: int = 1) -> float:
    """Sessions/s through the batch endpoint; bodies are encoded and answers checked outside
    the timed loop, so the figure is the server's, not the client's JSON work."""
    bodies = [json.dumps({"sessions": batch}).encode() for batch in batches]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answers = []

    def work(share: list) -> None:
        with httpx.Client(timeout=120) as client:
            for body in share:
                answers.append(client.post(f"http://127.0.0.1:{port}/v1/sessions/batch", content=body, headers=headers))

    elapsed = _in_parallel(work, bodies, concurrency)
    for answer in answers:
        assert answer.status_code == 200 and all(r["status"] == 201 for r in answer.json()["results"])
    return sum(map(len, batches)) / elapsed


def post_script(workdir: Path, body: str, name: str = "post") -> Path:
    script = workdir / f"{name}.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="stepwise-ingest-"))
    env = clean_env(DATABASE_URL=url)
    server = bare = None
    try:
        server, port, key = start_stepwise(work, env)
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as c:
            partner_id = c.execute("select id from partner where name = 'demo'").fetchone()[0]

        def batches(tag: str) -> list[list[dict]]:
            return [[session_item(f"{tag}-{b}-{i % 50}", i) for i in range(BATCH)] for b in range(args.batches)]

        through_api(port, key, batches("warm")[:2])
        raw_executemany(url, partner_id, batches("rawwarm")[:2])
        print(f"batch ingest, {args.batches} x {BATCH} sessions, best of 2 alternating rounds")
        for concurrency in (1, 2):  # the same number of connections on both sides
            api_rates, raw_rates = [], []
            for round_ in range(2):
                raw_rates.append(raw_executemany(url, partner_id, batches(f"raw{concurrency}{round_}"), concurrency))
                api_rates.append(through_api(port, key, batches(f"api{concurrency}{round_}"), concurrency))
            api, raw = max(api_rates), max(raw_rates)
            print(
                f"  {concurrency} connection(s): psycopg executemany {raw:7.0f} sessions/s, "
                f"POST /v1/sessions/batch {api:7.0f} sessions/s, ratio {api / raw:.2f}"
            )

        single = {k: v for k, v in session_item("wrk-user", 0).items() if k != "user_id"}
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/users/wrk-user/sessions",
            json=single,
            headers={"Authorization": f"Bearer {key}"},
        )
        recorded = {
            "/v1/users/wrk-user/sessions": {
                "headers": [
                    ["content-type", "application/json"],
                    ["content-length", str(len(answer.content))],
                    ["location", answer.headers["location"]],
                    ["x-request-id", answer.headers["x-request-id"]],
                ],
                "body": answer.text,
                "status": 201,
            }
        }
        (work / "responses.json").write_text(json.dumps(recorded))
        bare, bare_port = start_bare(work / "responses.json", env)
        wait_ready(bare_port, "/v1/users/wrk-user/sessions")
        script = post_script(work, json.dumps(single))
        best = {"bare": 0.0, "stepwise": 0.0}
        for _ in range(2):
            best["bare"] = max(
                best["bare"], wrk(bare_port, "/v1/users/wrk-user/sessions", key, args.seconds, script)[0]
            )
            best["stepwise"] = max(
                best["stepwise"], wrk(port, "/v1/users/wrk-user/sessions", key, args.seconds, script)[0]
            )
        print(f"one-session POST, wrk -t1 -c32 -d{args.seconds}s, best of 2 alternating rounds")
        print(f"  bare ASGI: {best['bare']:9.0f} req/s")
        print(f"  stepwise:  {best['stepwise']:9.0f} req/s   ratio {best['stepwise'] / best['bare']:.3f}")
        print(f"stepwise serve RSS: {rss_mb(server.pid):.1f} MB")
    finally:
        stop(server, bare)
        drop_database(url)


if __name__ == "__main__":
    main()
