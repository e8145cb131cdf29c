"""The database-bound routes next to the bare minimum with a database, in one run.

    python bench/db_routes.py [--seconds 4] [--rounds 2] [--pgbouncer]

On PostgreSQL (STEPWISE_BENCH_POSTGRES_URL, default the local cluster), `stepwise serve` as it
ships and `bare_db.py` (uvicorn + uvloop + httptools, an async psycopg pool of 20, the least SQL
each answer needs, answering Stepwise's own recorded bytes) are loaded in turn with
`wrk -t1 -c32`, alternating, for:

- POST /v1/users/{id}/sessions, one session (the bare app: INSERT one jsonb row, commit);
- GET /v1/users/{id}/recommendation for a user with 10 sessions (the bare app: SELECT the
  user's latest 2 rows by index).

Prints the best req/s of each, the ratio and the server's RSS; then the same two routes on the
embedded default (SQLite, no configuration) and, with --pgbouncer, through a pgbouncer in
transaction pooling mode that the bench starts (Debian's `pgbouncer`). Servers on CPU 0, wrk
on CPU 1.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # tests.pgbouncer, shared with the suite
from common import clean_env, rss_mb, start_bare, start_stepwise, stop, wait_ready, wrk  # noqa: E402
from ingest import drop_database, fresh_database, post_script, session_item  # noqa: E402

from tests import pgbouncer  # noqa: E402

POST_PATH = "/v1/users/post-user/sessions"
REC_PATH = "/v1/users/rec-user/recommendation"
REC_QUERY = "?progression=lunge-ladder&as_of=2026-12-01T00:00:00Z"


def single_session() -> dict:
    return {k: v for k, v in session_item("post-user", 0).items() if k != "user_id"}


def load_history(port: int, key: str) -> None:
    """Ten ladder sessions for the recommendation's user."""
    sessions = [session_item("rec-user", i * 24 * 60) for i in range(10)]
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/sessions/batch",
        json={"sessions": sessions},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200 and all(r["status"] == 201 for r in answer.json()["results"]), answer.text


def record(port: int, key: str) -> dict:
    """Stepwise's own answers to both routes, for the bare app to send back byte for byte."""
    headers = {"Authorization": f"Bearer {key}"}
    posted = httpx.post(f"http://127.0.0.1:{port}{POST_PATH}", json=single_session(), headers=headers)
    assert posted.status_code == 201, posted.text
    recommended = httpx.get(f"http://127.0.0.1:{port}{REC_PATH}{REC_QUERY}", headers=headers)
    assert recommended.status_code == 200, recommended.text

    def recorded(method: str, answer: httpx.Response) -> dict:
        keep = ("content-type", "content-length", "location", "x-request-id")
        return {
            "method": method,
            "status": answer.status_code,
            "headers": [[k, v] for k, v in answer.headers.items() if k in keep],
            "body": answer.text,
        }

    return {POST_PATH: recorded("POST", posted), REC_PATH: recorded("GET", recommended)}


def measure(targets: dict[str, int], key: str, work: Path, seconds: int, rounds: int) -> dict[str, dict[str, float]]:
    """Best req/s per (target, route) over alternating rounds."""
    script = post_script(work, json.dumps(single_session()))
    best: dict[str, dict[str, float]] = {name: {"post": 0.0, "rec": 0.0} for name in targets}
    for _ in range(rounds):
        for name, port in targets.items():
            best[name]["post"] = max(best[name]["post"], wrk(port, POST_PATH, key, seconds, script)[0])
            best[name]["rec"] = max(best[name]["rec"], wrk(port, REC_PATH + REC_QUERY, key, seconds)[0])
    return best


def report(title: str, best: dict[str, dict[str, float]], rss: dict[str, float]) -> None:
    print(title)
    names = list(best)
    for route, label in (("post", "POST one session"), ("rec", "GET recommendation (10 sessions)")):
        figures = "  ".join(f"{name} {best[name][route]:7.0f} req/s" for name in names)
        ratio = f"  ratio {best[names[0]][route] / best[names[1]][route]:.2f}" if len(names) == 2 else ""
        print(f"  {label:34s} {figures}{ratio}")
    print("  RSS after load: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))


def start_pgbouncer(database_url: str, work: Path) -> tuple[subprocess.Popen, str]:
    """pgbouncer in transaction pooling mode in front of the bench database; returns its URL."""
    url = make_url(database_url)
    process, port = pgbouncer.start(url, work)
    return process, url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pgbouncer", action="store_true")
    args = parser.parse_args()
    print(f"wrk -t1 -c32 -d{args.seconds}s, best of {args.rounds} alternating rounds")

    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="stepwise-dbroutes-"))
    server = bare = bouncer = None
    try:
        server, port, key = start_stepwise(work, clean_env(DATABASE_URL=url))
        load_history(port, key)
        (work / "responses.json").write_text(json.dumps(record(port, key)))
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        bare, bare_port = start_bare(work / "responses.json", clean_env(BARE_DB_URL=conninfo), module="bare_db")
        wait_ready(bare_port, REC_PATH)
        best = measure({"stepwise": port, "bare": bare_port}, key, work, args.seconds, args.rounds)
        report("PostgreSQL", best, {"stepwise": rss_mb(server.pid), "bare": rss_mb(bare.pid)})
        stop(server)
        server = None

        if args.pgbouncer:
            bouncer, bounced_url = start_pgbouncer(url, work)
            bounced = work / "bounced"
            bounced.mkdir()
            bounced_env = clean_env(DATABASE_URL=bounced_url, STEPWISE_DB_PREPARED_STATEMENTS="false")
            server, port, _ = start_stepwise(bounced, bounced_env, demo_key=False)
            best = measure({"stepwise": port, "bare": bare_port}, key, work, args.seconds, args.rounds)
            report(
                "PostgreSQL through pgbouncer (transaction pooling; bare app direct)",
                best,
                {"stepwise": rss_mb(server.pid)},
            )
            stop(server)
            server = None

        sqlite_dir = work / "sqlite"
        sqlite_dir.mkdir()
        server, port, sqlite_key = start_stepwise(sqlite_dir, clean_env())
        load_history(port, sqlite_key)
        best = measure({"stepwise": port}, sqlite_key, work, args.seconds, args.rounds)
        report("SQLite (the embedded default)", best, {"stepwise": rss_mb(server.pid)})
    finally:
        stop(server, bare, bouncer)
        drop_database(url)


if __name__ == "__main__":
    main()
