"""A pgbouncer in transaction pooling mode in front of a PostgreSQL server, for the suite (and
bench/db_routes.py): every database of that server reachable on the port it returns."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import URL

from tests.factories import free_port


def binary() -> str | None:
    return shutil.which("pgbouncer", path=os.environ["PATH"] + ":/usr/sbin")


def start(server: URL, directory: Path) -> tuple[subprocess.Popen, int]:
    """Start pgbouncer with its files in `directory` (its log: pgbouncer.log); returns it and its port."""
    port = free_port()
    (directory / "users.txt").write_text(f'"{server.username}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port} user={server.username} password={server.password}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 20\nmax_client_conn = 1000\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
    )
    argv = [binary() or "pgbouncer", str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(directory, "postgres", "postgres")
        argv = ["runuser", "-u", "postgres", "--", *argv]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("pgbouncer did not start")
        time.sleep(0.05)
    return process, port
