"""The database-bound routes next to the bare minimum with a database, in one run.

    python bench/db_routes.py [--seconds 4] [--rounds 3] [--pgbouncer]

On PostgreSQL (STEPWISE_BENCH_POSTGRES_URL, default the local cluster), `stepwise serve` as it
ships and `bare_db.py` (uvicorn + uvloop + httptools, an async psycopg pool of 20, the least SQL
each answer needs, answering Stepwise's own recorded bytes) are loaded in turn with
`wrk -t1 -c32`, alternating, for:

- POST /v1/users/{id}/sessions, one session (the bare app: INSERT one jsonb row, commit), as
  it is, with notes (Stepwise seals them under the user's key), and with a new
  `client_session_id` each time (checked against the user's unique index as it is stored);
- GET /v1/users/{id}/recommendation for a user with 10 sessions (the bare app: SELECT the
  user's latest 2 rows by index).

Prints the best req/s of each and the ratio, the least CPU per request each server used (its
own process: a second view of the same ratio, steadier than req/s on a noisy machine) and the
PostgreSQL server's processes used for it (they share the machine's two cores with the
servers and wrk), and the server's RSS; then the same two routes on the
embedded default (SQLite, no configuration) and, with --pgbouncer, through a pgbouncer in
transaction pooling mode that the bench starts (Debian's `pgbouncer`). Servers on CPU 0, wrk
on CPU 1.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # tests.pgbouncer, shared with the suite
from common import (  # noqa: E402
    clean_env,
    cpu_seconds,
    database_cpu_seconds,
    rss_mb,
    start_bare,
    start_stepwise,
    stop,
    wait_ready,
    wrk,
)
from ingest import drop_database, fresh_database, post_script, session_item  # noqa: E402

from tests import pgbouncer  # noqa: E402

POST_PATH = "/v1/users/post-user/sessions"
REC_PATH = "/v1/users/rec-user/recommendation"
REC_QUERY = "?progression=lunge-ladder&as_of=2026-12-01T00:00:00Z"
NOTE = "Left knee ached on the last set; better after a rest."


def single_session() -> dict:
    return {k: v for k, v in session_item("post-user", 0).items() if k != "user_id"}


def history() -> list[dict]:
    """Ten ladder sessions for the recommendation's user."""
    return [session_item("rec-user", i * 24 * 60) for i in range(10)]


def load_history(port: int, key: str) -> None:
    sessions = history()
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/sessions/batch",
        json={"sessions": sessions},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200 and all(r["status"] == 201 for r in answer.json()["results"]), answer.text


def seed_bare(conninfo: str) -> None:
    """The same ten sessions in the bare app's table, so its GET reads the latest 2 of them."""
    with psycopg.connect(conninfo) as connection:
        connection.cursor().executemany(
            "insert into bare_session (user_id, performed_at, document) values (%s, %s, %s)",
            [(s["user_id"], s["performed_at"], Jsonb(s)) for s in history()],
        )


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


# target -> route -> (best req/s, least server CPU µs/request, least database CPU µs/request)
Figures = dict[str, dict[str, tuple[float, float, float]]]


def measure(targets: dict[str, tuple[int, int]], key: str, work: Path, seconds: int, rounds: int) -> Figures:
    """Best req/s, least server CPU and least database CPU per request, per (target, route),
    over alternating rounds; `targets` names (port, server pid)."""
    script = post_script(work, json.dumps(single_session()))
    noted = post_script(work, json.dumps(single_session() | {"notes": NOTE}), "post-notes")
    routes = {
        "post": (POST_PATH, script),
        "post-notes": (POST_PATH, noted),
        "post-id": (POST_PATH, client_id_script(work)),
        "rec": (REC_PATH + REC_QUERY, None),
    }
    best: Figures = {name: {route: (0.0, math.inf, math.inf) for route in routes} for name in targets}
    for _ in range(rounds):
        for name, (port, pid) in targets.items():
            for route, (path, lua) in routes.items():
                before, database_before = cpu_seconds(pid), database_cpu_seconds()
                rate = wrk(port, path, key, seconds, lua)[0]
                requests = rate * seconds
                per_request = (cpu_seconds(pid) - before) / requests * 1e6
                database = (database_cpu_seconds() - database_before) / requests * 1e6
                so_far = best[name][route]
                best[name][route] = (max(so_far[0], rate), min(so_far[1], per_request), min(so_far[2], database))
    return best


def client_id_script(workdir: Path) -> Path:
    """wrk's script for posting the session with a new `client_session_id` each time."""
    body = json.dumps(single_session())[:-1] + ', "client_session_id": "c-%s-%d"}'
    script = workdir / "post-client-id.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "local n = 0\nlocal run = tostring(math.random(1, 1000000000))\n"
        "request = function()\n  n = n + 1\n"
        f"  return wrk.format(nil, nil, nil, string.format({json.dumps(body)}, run, n))\nend\n"
    )
    return script


_ROUTES = (
    ("post", "POST one session"),
    ("post-notes", "POST one, with notes (sealed)"),
    ("post-id", "POST one, with client_session_id"),
    ("rec", "GET recommendation (10 sessions)"),
)


def report(title: str, best: Figures, rss: dict[str, float], *, database: bool = True) -> None:
    print(title)
    names = list(best)
    for route, label in _ROUTES:
        figures = "  ".join(
            f"{name} {best[name][route][0]:6.0f} req/s {best[name][route][1]:4.0f} µs CPU"
            + (f" (+{best[name][route][2]:3.0f} µs database)" if database else "")
            for name in names
        )
        ratios = ""
        if len(names) == 2:
            (rate, cpu, _), (bare_rate, bare_cpu, _) = best[names[0]][route], best[names[1]][route]
            ratios = f"  ratio {rate / bare_rate:.2f} (by CPU {bare_cpu / cpu:.2f})"
        print(f"  {label:34s} {figures}{ratios}")
    print("  RSS after load: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))


def start_pgbouncer(database_url: str, work: Path) -> tuple[subprocess.Popen, str]:
    """pgbouncer in transaction pooling mode in front of the bench database; returns its URL."""
    url = make_url(database_url)
    process, port = pgbouncer.start(url, work)
    return process, url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
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
        seed_bare(conninfo)
        best = measure(
            {"stepwise": (port, server.pid), "bare": (bare_port, bare.pid)}, key, work, args.seconds, args.rounds
        )
        report("PostgreSQL", best, {"stepwise": rss_mb(server.pid), "bare": rss_mb(bare.pid)})
        stop(server)
        server = None

        if args.pgbouncer:
            bouncer, bounced_url = start_pgbouncer(url, work)
            bounced = work / "bounced"
            bounced.mkdir()
            bounced_env = clean_env(DATABASE_URL=bounced_url, STEPWISE_DB_PREPARED_STATEMENTS="false")
            server, port, _ = start_stepwise(bounced, bounced_env, demo_key=False)
            best = measure(
                {"stepwise": (port, server.pid), "bare": (bare_port, bare.pid)}, key, work, args.seconds, args.rounds
            )
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
        best = measure({"stepwise": (port, server.pid)}, sqlite_key, work, args.seconds, args.rounds)
        report("SQLite (the embedded default)", best, {"stepwise": rss_mb(server.pid)}, database=False)
    finally:
        stop(server, bare, bouncer)
        drop_database(url)


if __name__ == "__main__":
    main()
