"""One client against the others: an honest partner's latency and errors while another address attacks.

    python bench/abuse.py [--seconds 20] [--phases baseline,idle,drip,evaluate] [--checkout DIR] [--postgres]
                          [--idle 1000] [--drip 400]

Starts `stepwise serve` from `--checkout` (default: the repository this script is in; its `app`
is imported first, PYTHONPATH) on the embedded default SQLite in a temporary directory, or with
--postgres on a fresh database of STEPWISE_BENCH_POSTGRES_URL (default the local cluster), and
creates two partners with the CLI: "honest" (a quota it never reaches) and "attacker" (the
service's default quota). Then, one phase after another:

- the attacker, from 127.0.0.3 (a process of its own), starts one attack:
  - `baseline`: none;
  - `idle`: 1,000 TCP connections (`--idle`) that send nothing, each reopened as soon as the server closes it;
  - `drip`: 400 connections (`--drip`) each sending a `POST /v1/users/u-1/sessions` head with the
    attacker's key and `Content-Length: 900000`, then one byte of body every 5 s; reopened
    when closed;
  - `evaluate`: 4 connections looping `POST /v1/recommendations/evaluate` with 1,000 sessions
    (the most it takes), as fast as the answers come (429s included);
- two seconds later the honest partner, from 127.0.0.2, sends `GET /v1/muscles` one request at
  a time every 50 ms for `--seconds`, on a new connection each time (keep-alive off: the
  attacks are on connection slots), 5 s timeout; anything but a 200 is an error.

Prints the machine, the nofile limits and the commit served, then per phase the honest
partner's requests, errors (% and count), p50 and p99 latency of all its requests (errors
included, at the time they took) and p50 against the baseline's (ratios within one run are what
to compare on a noisy machine); then what the honest client's errors were, and the attacker's
connections open (mean while measured, and at the end), reopened, and its answers by status.

The server runs on CPU 0, the attacker and the honest client on CPU 1 (the honest client on
CPU 2 when there is one). A default run takes about two minutes.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import clean_env, create_partner, free_port, pinned, wait_ready  # noqa: E402
from ingest import drop_database, fresh_database  # noqa: E402
from workers import machine  # noqa: E402

HONEST, ATTACKER = "127.0.0.2", "127.0.0.3"
PHASES = ("baseline", "idle", "drip", "evaluate")
INTERVAL, TIMEOUT = 0.05, 5.0  # the honest client's pace and timeout
WARM_UP = 2.0  # seconds of attack before the honest client starts
IDLE_CONNECTIONS, DRIP_CONNECTIONS, DRIP_EVERY, DRIP_LENGTH = 1000, 400, 5.0, 900_000
EVALUATE_LOOPS, EVALUATE_SESSIONS = 4, 1000
SCOPES = "catalogue:read,sessions:read,sessions:write"


# -- the attacker (this script again, in a process of its own) ----------------------------------


class Tally:
    """What an attack saw: connections open now, opened, closed by the server, failed to open,
    and the answers it got by status (or error)."""

    def __init__(self) -> None:
        self.open = self.opened = self.closed = 0
        self.failed: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()

    def status_line(self, data: bytes) -> None:
        if data.startswith(b"HTTP/"):
            self.answers[data.split(b" ", 2)[1].decode()] += 1


async def _connect(port: int, tally: Tally) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0)), TIMEOUT
        )
    except (OSError, TimeoutError) as error:
        tally.failed[type(error).__name__] += 1
        await asyncio.sleep(0.1)
        return None
    tally.open += 1
    tally.opened += 1
    return reader, writer


async def _until_closed(reader: asyncio.StreamReader, tally: Tally) -> None:
    """Read what the server sends (an answer's status line counted) until it closes."""
    first = True
    try:
        while data := await reader.read(65536):
            if first:
                tally.status_line(data)
                first = False
    except OSError:
        pass


async def hold_idle(port: int, tally: Tally) -> None:
    """A connection that sends nothing; reopened as soon as the server closes it."""
    while True:
        if (connection := await _connect(port, tally)) is None:
            continue
        reader, writer = connection
        try:
            await _until_closed(reader, tally)
            tally.closed += 1
        finally:
            tally.open -= 1
            writer.close()


async def drip(port: int, key: str, tally: Tally) -> None:
    """A session POST declaring 900,000 bytes of body, sent one byte every 5 s; reopened when closed."""
    head = (
        f"POST /v1/users/u-1/sessions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {DRIP_LENGTH}\r\n\r\n"
    ).encode()

    async def body(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(random.uniform(0, DRIP_EVERY))  # spread the drips over the period
        for _ in range(DRIP_LENGTH):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(DRIP_EVERY)

    while True:
        if (connection := await _connect(port, tally)) is None:
            continue
        reader, writer = connection
        dripping = None
        try:
            writer.write(head)
            dripping = asyncio.create_task(body(writer))
            await _until_closed(reader, tally)
            tally.closed += 1
        finally:
            if dripping is not None:
                dripping.cancel()
            tally.open -= 1
            writer.close()


def evaluate_body() -> bytes:
    """The largest evaluate the service takes: 1,000 sessions of the ladder's first exercise
    (as tests/factories.py's `session_body`), 21 hours apart up to an hour ago."""
    end = datetime.now(UTC) - timedelta(hours=1)
    sessions = [
        {
            "id": f"s-{n}",
            "exercise": "reverse-lunge",
            "performed_at": (end - timedelta(hours=21 * n)).isoformat(),
            "target_dose": 8,
            "sets": [{"dose": 8}, {"dose": 8}, {"dose": 6 + n % 3}],
            "rpe": 3 + n % 4,
            "pain": {"before": 2, "during": n % 4, "after": 2, "next_morning": None},
            "support_used": False,
            "faults": [],
            "red_flags": [],
            "duration_seconds": 540,
            "notes": "felt fine",
        }
        for n in reversed(range(EVALUATE_SESSIONS))
    ]
    return json.dumps({"progression": "lunge-ladder", "sessions": sessions}).encode()


async def evaluate_loop(client: httpx.AsyncClient, port: int, key: str, content: bytes, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    tally.open += 1  # a kept-alive connection each (reopened by httpx if the server closes it)
    try:
        while True:
            try:
                answer = await client.post(
                    f"http://127.0.0.1:{port}/v1/recommendations/evaluate", content=content, headers=headers
                )
                tally.answers[str(answer.status_code)] += 1
            except httpx.TransportError as error:
                tally.answers[type(error).__name__] += 1
    finally:
        tally.open -= 1


async def attack(kind: str, port: int, key: str, connections: int) -> None:
    """Run `kind` until stdin closes; say "ready" when it is under way, sample the connections
    open from a "start" line on, and print what was seen as one JSON line at the end."""
    tally = Tally()
    tasks: list[asyncio.Task] = []
    client = None
    if kind == "idle":
        tasks = [asyncio.create_task(hold_idle(port, tally)) for _ in range(connections)]
    elif kind == "drip":
        tasks = [asyncio.create_task(drip(port, key, tally)) for _ in range(connections)]
    elif kind == "evaluate":
        content = evaluate_body()
        transport = httpx.AsyncHTTPTransport(
            local_address=ATTACKER, limits=httpx.Limits(max_connections=EVALUATE_LOOPS)
        )
        client = httpx.AsyncClient(transport=transport, timeout=60)
        tasks = [asyncio.create_task(evaluate_loop(client, port, key, content, tally)) for _ in range(EVALUATE_LOOPS)]
    # Under way once every connection has been tried (or after 5 s).
    deadline = time.monotonic() + 5
    while tally.open + sum(tally.failed.values()) < len(tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "start"
    answers_before = tally.answers.copy()
    samples: list[int] = []
    started = time.monotonic()
    stdin_closed = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
    while not stdin_closed.done():
        samples.append(tally.open)
        await asyncio.wait({stdin_closed}, timeout=0.2)
    at_end, seconds = tally.open, time.monotonic() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if client is not None:
        await client.aclose()
    report = {
        "seconds": seconds,
        "open_mean": statistics.fmean(samples) if samples else 0,
        "open_min": min(samples, default=0),
        "open_end": at_end,
        "opened": tally.opened,
        "closed_by_server": tally.closed,
        "failed": dict(tally.failed),
        "answers": dict(tally.answers),
        "answers_measured": dict(tally.answers - answers_before),
    }
    print(json.dumps(report), flush=True)


# -- the bench --------------------------------------------------------------------------------


def raise_nofile() -> str:
    """Raise this process's open-file limit (inherited by the server and the attacker) to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return f"soft {soft} -> {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}, hard {hard}"


def served_commit(checkout: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True).stdout.strip()

    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    subject = git("log", "-1", "--format=%s")
    return f"{git('rev-parse', '--short', 'HEAD')}{dirty} ({subject[:60]}{'...' if len(subject) > 60 else ''})"


def start_server(workdir: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """`stepwise serve` as it ships (the checkout's `app`, by `env`'s PYTHONPATH), pinned to CPU 0."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            pinned(0, [sys.executable, "-m", "app", "serve", "--port", str(port)]),
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(port, "/readyz")
    except SystemExit:
        stop_server(server)
        raise SystemExit(f"stepwise serve did not become ready:\n{log.read_text()[-3000:]}") from None
    return server, port


def honest_cpu() -> int | None:
    """Where the honest client runs: CPU 2 if there is one, else CPU 1 with the attacker (None:
    nothing is pinned, as `common.pinned` decides)."""
    if pinned(1, []) == []:
        return None
    return 2 if os.cpu_count() > 2 else 1


def honest_client(port: int, key: str, seconds: float) -> list[tuple[float, str]]:
    """GET /v1/muscles every 50 ms (one at a time, a new connection each) for `seconds`: each
    request's latency and outcome (its status, or the error's name)."""
    transport = httpx.HTTPTransport(local_address=HONEST, limits=httpx.Limits(max_keepalive_connections=0))
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    results = []
    with httpx.Client(transport=transport, timeout=TIMEOUT, headers=headers) as client:
        started = time.perf_counter()
        next_at = started
        while (now := time.perf_counter()) < started + seconds:
            if now < next_at:
                time.sleep(next_at - now)
            sent = time.perf_counter()
            try:
                outcome = str(client.get(f"http://127.0.0.1:{port}/v1/muscles").status_code)
            except httpx.TransportError as error:
                outcome = type(error).__name__
            done = time.perf_counter()
            results.append((done - sent, outcome))
            next_at = max(next_at + INTERVAL, done)  # a late answer delays the next; no burst to catch up
    return results


def start_attacker(kind: str, port: int, key: str, connections: int) -> subprocess.Popen:
    argv = [sys.executable, __file__, "--attack", kind, "--port", str(port), "--key", key]
    attacker = subprocess.Popen(
        pinned(1, [*argv, "--connections", str(connections)]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if attacker.stdout.readline().strip() != "ready":
        stop_attacker(attacker)
        raise SystemExit(f"the {kind} attacker did not start")
    return attacker


def stop_attacker(attacker: subprocess.Popen) -> dict:
    """Close its stdin (it stops and reports what it saw); killed if it has not within 20 s."""
    try:
        out, _ = attacker.communicate(timeout=20)
    except (subprocess.TimeoutExpired, OSError):
        attacker.kill()
        attacker.communicate()
        return {}
    return json.loads(out.splitlines()[-1]) if out.strip() else {}


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it has not ended within 20 s."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_phase(
    kind: str, server: subprocess.Popen, port: int, keys: dict[str, str], seconds: float, connections: int = 0
) -> tuple[list[tuple[float, str]], dict]:
    """One attack (none for `baseline`) with the honest client measured while it runs: the
    honest client's (latency, outcome) and what the attacker saw."""
    attacker = start_attacker(kind, port, keys["attacker"], connections) if kind != "baseline" else None
    try:
        if attacker is not None:
            time.sleep(WARM_UP)
            attacker.stdin.write("start\n")
            attacker.stdin.flush()
        results = honest_client(port, keys["honest"], seconds)
    finally:
        seen = stop_attacker(attacker) if attacker is not None else {}
    if server.poll() is not None:
        raise SystemExit(f"stepwise serve ended (exit status {server.returncode}) during the {kind} phase")
    wait_ready(port, "/readyz")  # the server has let go of the attack before the next phase
    time.sleep(1)
    return results, seen


def report(phases: dict[str, tuple[list[tuple[float, str]], dict]]) -> None:
    base = None
    if "baseline" in phases and phases["baseline"][0]:
        base = statistics.median(latency for latency, _ in phases["baseline"][0])
    print(f"{'phase':10} {'requests':>8} {'errors':>14} {'p50 ms':>9} {'p99 ms':>9} {'p50/baseline':>13}")
    for kind, (results, _) in phases.items():
        latencies = [latency for latency, _ in results]
        errors = sum(outcome != "200" for _, outcome in results)
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        ratio = f"{p50 / base:.2f}" if base else "-"
        share = f"{100 * errors / len(results):.1f}% ({errors})"
        print(f"{kind:10} {len(results):8d} {share:>14} {p50 * 1000:9.1f} {p99 * 1000:9.1f} {ratio:>13}")
    print()
    for kind, (results, seen) in phases.items():
        outcomes = Counter(outcome for _, outcome in results if outcome != "200")
        errors = ", ".join(f"{outcome} x{count}" for outcome, count in outcomes.most_common()) or "none"
        print(f"{kind}: honest errors: {errors}")
        if not seen:
            continue
        answers = ", ".join(f"{k} x{v}" for k, v in sorted(seen["answers_measured"].items())) or "none"
        if kind == "evaluate":
            count = sum(seen["answers_measured"].values())
            print(
                f"  attacker: {EVALUATE_LOOPS} kept-alive connections, {count / seen['seconds']:.1f} answers/s "
                f"while measured: {answers}"
            )
            continue
        failed = ", ".join(f"{k} x{v}" for k, v in seen["failed"].items()) or "none"
        print(
            f"  attacker: {seen['open_mean']:.0f} connections open on average while measured "
            f"(least {seen['open_min']}, {seen['open_end']} at the end); {seen['opened']} opened, "
            f"{seen['closed_by_server']} closed by the server, failed to open: {failed}"
        )
        print(f"  the server's answers to them while measured: {answers}")


def stepwise_import(checkout: Path, workdir: Path, env: dict[str, str]) -> str:
    """Where `python -m app` imports `app` from, checked to be the checkout's."""
    where = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(checkout):
        raise SystemExit(f"`app` is imported from {where}, not from {checkout}")
    return f"app from {Path(where).parent}"


def check(port: int, keys: dict[str, str]) -> None:
    """The honest key reads, and the attacker's evaluate body is one the service takes."""
    base = f"http://127.0.0.1:{port}"
    honest = httpx.get(f"{base}/v1/muscles", headers={"Authorization": f"Bearer {keys['honest']}"})
    assert honest.status_code == 200, honest.text
    evaluated = httpx.post(
        f"{base}/v1/recommendations/evaluate",
        content=evaluate_body(),
        headers={"Authorization": f"Bearer {keys['attacker']}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert evaluated.status_code == 200, evaluated.text[:2000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="each phase's honest measurement (default 20)")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, of " + ",".join(PHASES))
    parser.add_argument(
        "--checkout", type=Path, default=Path(__file__).resolve().parent.parent, help="whose `app` to serve"
    )
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--attack", choices=PHASES[1:], help=argparse.SUPPRESS)  # the attacker process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=int, default=IDLE_CONNECTIONS, help="idle connections (default 1000)")
    parser.add_argument("--drip", type=int, default=DRIP_CONNECTIONS, help="dripping bodies (default 400)")
    args = parser.parse_args()
    if args.attack:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the bench cleans up
        raise_nofile()
        asyncio.run(attack(args.attack, args.port, args.key, args.connections))
        return

    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    checkout = args.checkout.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up as on Ctrl-C
    limits = raise_nofile()
    env = clean_env(PYTHONPATH=str(checkout))
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="stepwise-abuse-")))
        if args.postgres:
            database_url = fresh_database()
            cleanup.callback(drop_database, database_url)
            env["DATABASE_URL"] = database_url
        imported = stepwise_import(checkout, workdir, env)
        server, port = start_server(workdir, env, workdir / "serve.log")
        cleanup.callback(stop_server, server)
        keys = {
            # The honest partner's own quota is one it never reaches; the attacker has the service's.
            "honest": create_partner(env, "honest", SCOPES, "--rate-limit", "10000000", cwd=workdir),
            "attacker": create_partner(env, "attacker", SCOPES, cwd=workdir),
        }
        check(port, keys)
        placement = "nothing pinned"
        if (cpu := honest_cpu()) is not None:
            os.sched_setaffinity(0, {cpu})
            placement = f"server on CPU 0, attacker on CPU 1, honest client on CPU {cpu}"

        print(f"machine: {machine()}")
        print(f"nofile: {limits}")
        print(f"served: {checkout} ({imported}), commit {served_commit(checkout)}")
        print(f"database: {'PostgreSQL' if args.postgres else 'SQLite (the embedded default)'}")
        print(
            f"honest {HONEST}: GET /v1/muscles every {INTERVAL * 1000:.0f} ms, one at a time, a new connection each, "
            f"{TIMEOUT:g} s timeout, {args.seconds:g} s a phase; attacker {ATTACKER}; {placement}\n",
            flush=True,
        )
        counts = {"idle": args.idle, "drip": args.drip}
        results = {kind: run_phase(kind, server, port, keys, args.seconds, counts.get(kind, 0)) for kind in phases}
        report(results)


if __name__ == "__main__":
    main()
