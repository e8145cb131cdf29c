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

    from app.db import make_engine
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

    from app.db import CONNECT_TIMEOUT_SECONDS

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
