"""The `stepwise` command's database and catalogue subcommands."""


def test_db_upgrade_then_catalogue_sync_twice_changes_nothing_the_second_time(empty_database_url, cli):
    assert cli(empty_database_url, "db", "upgrade").returncode == 0
    first = cli(empty_database_url, "catalogue", "sync")
    assert first.returncode == 0 and "0 rows inserted" not in first.stdout
    second = cli(empty_database_url, "catalogue", "sync")
    assert second.returncode == 0
    assert "0 rows inserted, 0 updated, 0 deleted" in second.stdout
    refused = cli(empty_database_url, "db", "downgrade", "base")
    assert refused.returncode != 0 and "--yes" in refused.stderr
    down = cli(empty_database_url, "db", "downgrade", "base", "--yes")
    assert down.returncode == 0, down.stderr


def test_bad_database_url_is_refused_clearly(cli):
    result = cli("mysql://nope", "db", "upgrade")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


def test_serve_makes_no_demo_partner_on_a_configured_database(empty_database_url, tmp_path):
    """Only the embedded default (or --demo) gets a demo key: a configured database, production
    included, starts with no partner, and the output says how to create one."""
    import os
    import sys
    import time

    from sqlalchemy import func, select
    from sqlmodel import Session

    from app.db.engines import make_engine
    from app.partners.tables import Partner
    from tests import servers

    env = os.environ | {"DATABASE_URL": empty_database_url}
    server, _ = servers.start([sys.executable, "-m", "app"], env=env, cwd=tmp_path)
    try:
        assert server.stdout is not None
        lines, deadline = [], time.monotonic() + 60
        while time.monotonic() < deadline and not any("partners create" in line for line in lines):
            line = server.stdout.readline()
            assert line, "stepwise serve exited early:\n" + "".join(lines)
            lines.append(line)
        output = "".join(lines)
        assert "No partner yet" in output and "stepwise partners create" in output
        assert "sw_" not in output
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Partner)).scalar_one() == 0
    engine.dispose()


def test_a_database_host_that_never_answers_fails_the_start_in_seconds(cli):
    """A host that accepts the TCP connection and then says nothing: `stepwise db upgrade`
    (which `serve` runs first) gives up after the connect timeout instead of hanging."""
    import socket
    import time

    from app.db.engines import CONNECT_TIMEOUT_SECONDS

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or writes
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = cli(f"postgresql://nobody:secret@127.0.0.1:{port}/stepwise", "db", "upgrade")
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < CONNECT_TIMEOUT_SECONDS + 20, f"took {elapsed:.0f} s"
    assert "secret" not in result.stdout + result.stderr


def test_three_replicas_started_at_once_on_an_empty_database_all_come_up(empty_database_url, tmp_path):
    """Replicas take turns at start-up (an advisory lock on PostgreSQL, the write lock on
    SQLite): all three migrate-or-find-migrated and serve, and only one makes the demo partner."""
    import os
    import sys
    import threading
    import time

    import httpx

    from tests import servers

    env = os.environ | {"DATABASE_URL": empty_database_url}
    started = [servers.start([sys.executable, "-m", "app"], "--demo", env=env, cwd=tmp_path) for _ in range(3)]
    outputs: list[list[str]] = [[] for _ in started]
    readers = [
        threading.Thread(target=lambda s=server, out=output: out.extend(iter(s.stdout.readline, "")), daemon=True)
        for (server, _), output in zip(started, outputs, strict=True)
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 90
        for (server, port), output in zip(started, outputs, strict=True):
            while True:
                assert server.poll() is None, "a replica exited:\n" + "".join(output)
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "a replica did not become ready:\n" + "".join(output)
                time.sleep(0.2)
        keys = [line.strip() for output in outputs for line in output if line.strip().startswith("sw_")]
        assert len(keys) == 1, "exactly one replica makes the demo partner"
        for _, port in started:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/v1/progressions/lunge-ladder", headers={"Authorization": f"Bearer {keys[0]}"}
            )
            assert answer.status_code == 200
        assert not any("Traceback" in line for output in outputs for line in output)
    finally:
        for server, _ in started:
            server.terminate()
        for server, _ in started:
            server.wait(timeout=30)


def test_version_and_help_show_the_settings(cli):
    from importlib.metadata import version

    assert cli("sqlite://", "--version").stdout.strip() == f"stepwise {version('stepwise')}"
    helped = cli("sqlite://", "--help").stdout
    assert "STEPWISE_RATE_LIMIT_PER_MINUTE=6000" in helped and "DATABASE_URL=sqlite:///./stepwise.db" in helped


def test_a_port_out_of_range_is_refused(cli):
    refused = cli("sqlite://", "serve", "--port", "99999")
    assert refused.returncode == 2 and "not a TCP port" in refused.stderr


def test_key_rotation_and_the_partner_list(database_url, cli, client):
    created = cli(database_url, "partners", "create", "rotating")
    assert created.returncode == 0, created.stderr
    old = created.stdout.strip().splitlines()[-1]
    added = cli(database_url, "partners", "keys", "add", "rotating")
    assert added.returncode == 0, added.stderr
    new = added.stdout.strip().splitlines()[-1]
    for key in (old, new):  # both work during the overlap; the default scopes suffice to log sessions
        answer = client.get("/v1/users/someone/sessions", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
    listed = cli(database_url, "partners", "list").stdout
    assert "rotating" in listed and old[:11] in listed and new[:11] in listed
    assert old not in listed and new not in listed  # prefixes only
    assert cli(database_url, "partners", "keys", "revoke", old[:11]).returncode == 0
    assert "revoked" in cli(database_url, "partners", "list").stdout
    assert cli(database_url, "partners", "keys", "add", "nobody").returncode == 1


def test_a_relative_sqlite_path_with_no_database_leaves_no_stray_file(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "partners", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "no database at" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_an_unreachable_database_is_one_line_without_a_traceback(cli):
    from tests.factories import free_port

    result = cli(f"postgresql://someone:secret@127.0.0.1:{free_port()}/stepwise", "partners", "list")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("stepwise: database error")
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_json_logs_carry_one_line_per_request_and_never_a_key(tmp_path):
    """STEPWISE_LOG_FORMAT=json with the request log on: every line is a JSON object; a request
    line has its request id, route template, status, duration and partner id; no key, no body,
    no user id from the path."""
    import json
    import os
    import sys
    import time

    import httpx

    from tests.factories import session_body
    from tests.servers import serving_process

    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
        "STEPWISE_LOG_FORMAT": "json",
        "STEPWISE_ACCESS_LOG": "true",
    }
    with serving_process([sys.executable, "-m", "app"], env=env, cwd=tmp_path) as (server, base, key):
        headers = {"Authorization": f"Bearer {key}", "X-Request-ID": "trace-json-1"}
        posted = httpx.post(f"{base}/v1/users/person-77/sessions", json=session_body(notes="n-5512"), headers=headers)
        assert posted.status_code == 201
        for _ in range(2):  # the framework, then the fast path
            httpx.get(f"{base}/v1/muscles", headers=headers | {"X-Request-ID": "trace-json-2"})
        time.sleep(0.3)
        lines = [line for line in server.captured if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    requests = [r for r in records if r["name"] == "stepwise.requests"]
    posted_line = next(r for r in requests if r["request_id"] == "trace-json-1")
    assert posted_line["route"] == "/v1/users/{user_id}/sessions" and posted_line["status"] == 201
    assert posted_line["method"] == "POST" and posted_line["duration_ms"] > 0 and posted_line["partner_id"] == 1
    assert len([r for r in requests if r["request_id"] == "trace-json-2"]) == 2
    assert any(r["name"].startswith("uvicorn") for r in records)  # uvicorn's own lines are JSON too
    everything = "".join(lines)  # the log (the demo banner before it shows the key by design)
    # Plain JSON: no terminal colour codes, and each message once (uvicorn's records carry a
    # coloured copy, `color_message`).
    assert "\x1b" not in everything and "\\u001b" not in everything
    assert all("color_message" not in r for r in records)
    assert key not in everything and "person-77" not in everything and "n-5512" not in everything


def test_a_malformed_redis_url_is_refused_without_its_password(cli):
    import os
    import subprocess
    import sys

    env = os.environ | {"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://:secretpw@127.0.0.1:notaport/0"}
    result = subprocess.run([sys.executable, "-m", "app", "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "REDIS_URL" in result.stderr
    assert "secretpw" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_misspelt_setting_is_named_with_the_closest_one_and_bad_values_by_their_variable(tmp_path):
    import os
    import subprocess
    import sys

    def run(**variables: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEPWISE_")}
        env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'settings.db'}"} | variables
        return subprocess.run(
            [sys.executable, "-m", "app", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
        )

    typo = run(STEPWISE_LOG_LEVLE="debug", STEPWISE_NOT_A_THING_AT_ALL="1")
    assert typo.returncode == 0, typo.stderr
    assert "STEPWISE_LOG_LEVLE is not a setting, and is ignored; did you mean STEPWISE_LOG_LEVEL?" in typo.stderr
    assert "STEPWISE_NOT_A_THING_AT_ALL is not a setting, and is ignored\n" in typo.stderr
    for variables, named in (
        ({"STEPWISE_PORT": "eighty"}, "STEPWISE_PORT: "),
        ({"STEPWISE_KEY_CACHE_SECONDS": "99"}, "STEPWISE_KEY_CACHE_SECONDS: "),
        ({"STEPWISE_LOG_LEVEL": "loud"}, "STEPWISE_LOG_LEVEL: "),
        ({"DATABASE_URL": "mysql://somewhere/db"}, "DATABASE_URL: "),
        ({"STEPWISE_DATA_KEY": "c2hvcnQtYW5kLXNlY3JldA=="}, "STEPWISE_DATA_KEY: "),  # 16 bytes, not 32
    ):
        refused = run(**variables)
        assert refused.returncode != 0 and named in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "c2hvcnQtYW5kLXNlY3JldA" not in refused.stderr  # a key is never printed


def _forward(listener, target: tuple[str, int]) -> None:
    """Accept on `listener` and pipe each connection to `target`, both ways, until closed."""
    import socket
    import threading

    def pipe(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(target)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def test_serve_waits_for_a_database_that_comes_up_later_and_gives_up_with_one_line(backend, empty_database_url):
    """Containers start together: PostgreSQL may answer seconds after the service starts. Serve
    retries with backoff (a line per retry), comes up once it answers, and without it exits 1
    after STEPWISE_DB_WAIT_SECONDS with one line that names the database but no password."""
    import os
    import socket
    import subprocess
    import sys
    import threading
    import time

    import httpx
    import pytest
    from sqlalchemy.engine import make_url

    from tests.factories import free_port

    if backend != "postgres":
        pytest.skip("SQLite is a local file: there is nothing to wait for")
    real = make_url(empty_database_url)
    port, http_port = free_port(), free_port()
    late = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPWISE_")} | {"DATABASE_URL": late}
    command = [sys.executable, "-m", "app", "serve", "--port", str(http_port)]

    gives_up = subprocess.run(
        command, env=env | {"STEPWISE_DB_WAIT_SECONDS": "2"}, capture_output=True, text=True, timeout=60
    )
    assert gives_up.returncode == 1
    last = gives_up.stderr.strip().splitlines()[-1]
    assert last.startswith(f"stepwise: the database at 127.0.0.1:{port}/{real.database} did not answer within 2 s")
    assert gives_up.stderr.count("not reachable yet") >= 2 and real.password not in gives_up.stderr
    assert "Traceback" not in gives_up.stderr

    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True).start()
    listener = socket.socket()
    try:
        deadline = time.monotonic() + 60
        while not any("not reachable yet" in line for line in lines):  # the service is up and retrying
            assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        # Now the database "starts": a port that forwards to the real one.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        threading.Thread(target=_forward, args=(listener, (real.host, real.port or 5432)), daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("serve did not come up once the database answered")
    finally:
        server.terminate()
        server.wait(timeout=30)
        listener.close()
    assert "Traceback" not in "".join(lines)
