"""A PostgreSQL cluster of a test's own (initdb in a temporary folder, on a free port), for tests
that freeze, stop or break the database: never the shared cluster the rest of the suite uses."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.factories import free_port

BIN = Path(os.environ.get("STEPWISE_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> str | None:
    """Why a throwaway cluster cannot be made here, or None when it can."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {BIN}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Cluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        data = directory / "data"
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl = [str(BIN / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-o", options]

    def start(self) -> None:
        subprocess.run(_as_server_user([*self.pg_ctl, "-w", "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        """Shut the server down at once (connections drop; nothing answers on the port)."""
        subprocess.run(_as_server_user([*self.pg_ctl, "-m", "immediate", "stop"]), capture_output=True)

    def _pids(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """Stop every server process (SIGSTOP): connections stay open, nothing answers."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp_path: as root, that is private to root and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="stepwise-cluster-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = Cluster(directory, free_port())
    data = directory / "data"
    subprocess.run(
        _as_server_user([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.thaw()
        except (OSError, ValueError):
            pass
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
