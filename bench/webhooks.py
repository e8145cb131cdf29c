"""Webhook delivery on PostgreSQL (issue 22): how fast one replica delivers, how long an event
takes to arrive, and what the outbox costs the session POST, in one run.

    python bench/webhooks.py [--events 5000] [--endpoints 1,50] [--latency-sessions 300]
                             [--pace 50] [--seconds 5] [--rounds 3]

`stepwise serve` as it ships (STEPWISE_WEBHOOKS_ALLOW_PRIVATE=true so it may call
http://127.0.0.1; the partner quota raised past what wrk sends) on a fresh database
(STEPWISE_BENCH_POSTGRES_URL, default the local cluster), pinned to CPU 0. The receiver is a bare
ASGI app (uvicorn + uvloop + httptools, no access log) answering 204, run in a background thread
of this process (uvicorn.Server.run), which is pinned to CPU 1 with wrk: it records each
arrival's time.monotonic() (the bench's own clock), path, `webhook-id` and body.

1. Throughput: for each count in --endpoints, that many endpoints subscribed to
   `session.created` (a partner has at most 10, so 50 are 5 partners of 10, each posting its share
   of the sessions), then about --events events queued by 100-session batch POSTs; prints the
   events/s from the first arrival to the last, and the rate after the last POST returned (the
   deliverer alone, no ingest beside it) with the server's CPU per event in that stretch.
2. Latency: --latency-sessions single-session POSTs at --pace a second for a partner with one
   endpoint; prints p50/p99 (and max) of the time from each POST's 201 to the arrival of its
   `session.created` (matched on data.session_id).
3. The outbox's cost: `wrk -t1 -c32` on the single-session POST for a partner with no endpoint
   and for one with one endpoint subscribed to `session.created`, alternating rounds on the same
   server, waiting after each run until no delivery is pending; prints the best req/s of each,
   the ratio (with/without), the least server CPU per request during wrk (and, for "with",
   counting the deliveries left to make after wrk stopped), the events/s delivered while wrk
   ran and how long the rest took to drain.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import uvicorn
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, cpu_seconds, create_partner, database_cpu_seconds, free_port, start_stepwise, stop, wrk  # noqa: E402
from ingest import drop_database, fresh_database, post_script, session_item  # noqa: E402

BATCH = 500
# Batches queueing events: 500 sessions with an endpoint each can outlast the 5 s transaction
# deadline (a 503) while the replica is delivering a backlog on the same CPU.
EVENT_BATCH = 100
MAX_PER_PARTNER = 10  # app.webhooks.service.MAX_ENDPOINTS
SCOPES = "catalogue:read,sessions:read,sessions:write,webhooks:manage"
EVENT = "session.created"


class Receiver:
    """The partner's side: answers 204 at once, and keeps (arrival, path, webhook-id, body)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, bytes, bytes]] = []
        self.port = free_port()
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="receiver", daemon=True)

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        at = time.monotonic()
        webhook_id = next((v for k, v in scope["headers"] if k == b"webhook-id"), b"")
        self.arrivals.append((at, scope["path"], webhook_id, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def wait_for(self, mark: int, count: int, prefix: str, timeout: float) -> list[tuple[float, str, bytes, bytes]]:
        """The arrivals after index `mark` on paths under `prefix`, once there are `count`."""
        deadline = time.monotonic() + timeout
        while True:
            mine = [a for a in self.arrivals[mark:] if a[1].startswith(prefix)]
            if len(mine) >= count:
                return mine
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(mine)} of {count} events reached {prefix} within {timeout:.0f} s")
            time.sleep(0.05)


class Service:
    """The running server, its database and how to make partners and endpoints on it."""

    def __init__(self, url: str, work: Path, port: int, pid: int, receiver: Receiver) -> None:
        self.url, self.work, self.port, self.pid, self.receiver = url, work, port, pid, receiver
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def partner(self, name: str) -> str:
        """A new partner with every scope a partner here needs; its key."""
        return create_partner(clean_env(DATABASE_URL=self.url), name, SCOPES, cwd=self.work)

    def endpoint(self, key: str, path: str) -> str:
        answer = self.client.post(
            "/v1/webhooks",
            json={"url": self.receiver.url(path), "events": [EVENT]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def post_batches(self, key: str, sessions: list[dict], size: int = BATCH) -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for start in range(0, len(sessions), size):
            body = json.dumps({"sessions": sessions[start : start + size]}).encode()
            answer = self.client.post("/v1/sessions/batch", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert all(r["status"] == 201 for r in answer.json()["results"]), answer.text[:500]

    def pending(self) -> int:
        with psycopg.connect(self.conninfo) as connection:
            return connection.execute("select count(*) from webhook_delivery where status = 'pending'").fetchone()[0]

    def wait_drained(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                raise SystemExit(f"deliveries still pending after {timeout:.0f} s")
            time.sleep(0.05)


def throughput(service: Service, endpoints: int, events: int) -> None:
    """Events/s delivered to `endpoints` endpoints subscribed to session.created."""
    partners = math.ceil(endpoints / MAX_PER_PARTNER)
    shares = [endpoints // partners + (1 if i < endpoints % partners else 0) for i in range(partners)]
    prefix = f"/tp{endpoints}/"
    keys = []
    for p, share in enumerate(shares):
        key = service.partner(f"tp{endpoints}-{p}")
        for e in range(share):
            service.endpoint(key, f"{prefix}{p}/{e}")
        keys.append(key)
    per_partner = math.ceil(events / endpoints)  # sessions each partner posts
    expected = per_partner * endpoints
    sessions = {
        key: [session_item(f"tp{endpoints}-{p}-{i % 50}", i) for i in range(per_partner)] for p, key in enumerate(keys)
    }
    mark = len(service.receiver.arrivals)
    started = time.monotonic()
    for key, items in sessions.items():
        service.post_batches(key, items, EVENT_BATCH)
    posted = time.monotonic()
    cpu_posted, database_posted = cpu_seconds(service.pid), database_cpu_seconds()
    arrivals = service.receiver.wait_for(mark, expected, prefix, timeout=max(120, expected / 20))
    cpu_done, database_done = cpu_seconds(service.pid), database_cpu_seconds()
    times = sorted(a[0] for a in arrivals)
    first, last = times[0], times[-1]
    unique = {(a[1], a[2]) for a in arrivals}
    after = sum(1 for t in times if t > posted)
    drain = f"{after / (last - posted):6.0f} events/s" if after > 1 and last > posted else "   n/a"
    print(
        f"  {endpoints:3d} endpoint(s) ({partners} partner(s) x {shares[0]}), {len(keys) * per_partner} sessions"
        f" -> {expected} events: POSTs took {posted - started:5.2f} s, first arrival after"
        f" {first - started:5.2f} s, first->last {last - first:5.2f} s = {(len(times) - 1) / (last - first):6.0f}"
        f" events/s; after the POSTs {after} events at {drain}"
        + (
            f", {(cpu_done - cpu_posted) / after * 1e6:4.0f} µs server CPU"
            f" (+{(database_done - database_posted) / after * 1e6:4.0f} µs database) per event"
            if after
            else ""
        )
        + ("" if len(unique) == len(arrivals) else f"; {len(arrivals) - len(unique)} DUPLICATES")
    )


def latency(service: Service, count: int, pace: float) -> None:
    """p50/p99 from a single POST's 201 to its session.created arriving."""
    key = service.partner("latency")
    service.endpoint(key, "/lat")
    body = {k: v for k, v in session_item("lat-user", 0).items() if k != "user_id"}
    headers = {"Authorization": f"Bearer {key}"}
    answered: dict[str, float] = {}
    round_trips = []
    mark = len(service.receiver.arrivals)
    started = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, started + i / pace - time.monotonic()))
        sent = time.monotonic()
        answer = service.client.post("/v1/users/lat-user/sessions", json=body, headers=headers)
        at = time.monotonic()
        assert answer.status_code == 201, answer.text
        answered[answer.json()["id"]] = at
        round_trips.append(at - sent)
    arrivals = service.receiver.wait_for(mark, count, "/lat", timeout=60)
    delays = sorted(at - answered[json.loads(raw)["data"]["session_id"]] for at, _, _, raw in arrivals)
    p = statistics.quantiles(delays, n=100, method="inclusive")
    r = statistics.quantiles(round_trips, n=100, method="inclusive")
    print(
        f"  {count} single POSTs at {pace:g}/s, 1 endpoint: 201 -> arrival p50 {p[49] * 1e3:5.1f} ms,"
        f" p99 {p[98] * 1e3:5.1f} ms, min {delays[0] * 1e3:5.1f} ms, max {delays[-1] * 1e3:5.1f} ms"
        f" (the POST itself: p50 {r[49] * 1e3:4.1f} ms, p99 {r[98] * 1e3:4.1f} ms)"
    )


def outbox_cost(service: Service, plain_key: str, seconds: int, rounds: int) -> None:
    """wrk on the single POST without and with an endpoint subscribed, alternating."""
    hooked_key = service.partner("hooked")
    service.endpoint(hooked_key, "/cost")
    body = {k: v for k, v in session_item("wrk-user", 0).items() if k != "user_id"}
    script = post_script(service.work, json.dumps(body))
    path = "/v1/users/wrk-user/sessions"
    best = {"without": (0.0, math.inf, math.inf), "with": (0.0, math.inf, math.inf)}
    delivered_during, drains, drain_cpu = [], [], []
    for _ in range(rounds):
        for name, key in (("without", plain_key), ("with", hooked_key)):
            mark = len(service.receiver.arrivals)
            before = cpu_seconds(service.pid)
            started = time.monotonic()
            rate = wrk(service.port, path, key, seconds, script)[0]
            ended, at_end = time.monotonic(), cpu_seconds(service.pid)
            service.wait_drained()
            drained, after = time.monotonic(), cpu_seconds(service.pid)
            requests = rate * seconds
            if name == "with":
                arrived = [a[0] for a in service.receiver.arrivals[mark:] if a[1] == "/cost"]
                during = sum(1 for t in arrived if t <= ended)
                delivered_during.append(during / (ended - started))
                drains.append(drained - ended)
                if len(arrived) > during:
                    drain_cpu.append((after - at_end) / (len(arrived) - during) * 1e6)
            so_far = best[name]
            best[name] = (
                max(so_far[0], rate),
                min(so_far[1], (at_end - before) / requests * 1e6),
                min(so_far[2], (after - before) / requests * 1e6),
            )
    (without, cpu_without, _), (with_, cpu_with, all_with) = best["without"], best["with"]
    print(
        f"  no endpoint     {without:6.0f} req/s {cpu_without:5.0f} µs server CPU/request\n"
        f"  1 endpoint      {with_:6.0f} req/s {cpu_with:5.0f} µs server CPU/request during wrk,"
        f" {all_with:5.0f} µs counting the drain after it  ratio {with_ / without:.2f}"
        f" (by CPU {cpu_without / cpu_with:.2f}, with the drain {cpu_without / all_with:.2f})\n"
        f"  with 1 endpoint: at best {max(delivered_during):.0f} events/s delivered during the wrk run;"
        f" the rest drained {min(drains):.1f}-{max(drains):.1f} s after it"
        + (f" at {min(drain_cpu):.0f} µs server CPU per event" if drain_cpu else "")
    )


def pin_self() -> None:
    """This process (the receiver thread, the posting client) on CPU 1, next to wrk."""
    if os.environ.get("BENCH_NO_PINNING") or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return
    os.sched_setaffinity(0, {1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating wrk rounds")
    parser.add_argument("--events", type=int, default=5000, help="events queued for each throughput run")
    parser.add_argument("--endpoints", default="1,50", help="endpoint counts for the throughput runs")
    parser.add_argument("--latency-sessions", type=int, default=300)
    parser.add_argument("--pace", type=float, default=50, help="single POSTs a second for the latency run")
    args = parser.parse_args()
    pin_self()

    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="stepwise-webhooks-"))
    receiver = Receiver()
    receiver.start()
    server = None
    try:
        env = clean_env(DATABASE_URL=url, STEPWISE_WEBHOOKS_ALLOW_PRIVATE="true")
        server, port, key = start_stepwise(work, env)
        service = Service(url, work, port, server.pid, receiver)
        # Warm up: one of each request the runs make.
        service.post_batches(key, [session_item("warm", i) for i in range(BATCH)])
        warm = service.partner("warm")
        service.endpoint(warm, "/warm")
        service.post_batches(warm, [session_item("warm", i) for i in range(100)], EVENT_BATCH)
        receiver.wait_for(0, 100, "/warm", timeout=60)

        print(f"delivery throughput, one replica (stepwise serve on CPU 0), ~{args.events} events each")
        started = time.monotonic()
        service.post_batches(key, [session_item(f"ref-{i % 50}", i) for i in range(4 * BATCH)])
        print(
            f"  (for reference: batch POSTs with no endpoint,"
            f" {4 * BATCH / (time.monotonic() - started):.0f} sessions/s)"
        )
        for endpoints in (int(n) for n in args.endpoints.split(",")):
            throughput(service, endpoints, args.events)
        print("delivery latency")
        latency(service, args.latency_sessions, args.pace)
        print(f"the outbox on POST /v1/users/{{id}}/sessions, wrk -t1 -c32 -d{args.seconds}s, best of {args.rounds}")
        outbox_cost(service, key, args.seconds, args.rounds)
    finally:
        stop(server)
        receiver.stop()
        drop_database(url)


if __name__ == "__main__":
    main()
