"""PostgreSQL and Redis instances of a test's own, on spare ports, that the test may stop.

Never the machine's shared instances (5432, 6379): fault tests stop, kill and restart these.
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.processes import free_tcp_port, skip_or_fail, start_redis, stop, wait_until


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} missing)"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder on a spare port (run as `postgres` if root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            skip_or_fail("PostgreSQL server binaries are not installed (postgresql package)")
        self.bin = Path(found[-1]).parent
        self.port = free_tcp_port()
        self.folder = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/maas"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, cwd=self.folder, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log),
                  "-o", options)
        wait_until(lambda: _answers(self.port), 30, lambda: _tail(self.log))

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "maas")

    def query(self, sql: str, *params) -> list[tuple]:
        """Rows of one SQL query on its `maas` database (a connection of its own)."""
        with psycopg.connect(self.url, connect_timeout=10, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def stop(self) -> None:
        """Stop it now (fast shutdown: open connections are cut, as in an outage)."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """A redis-server on a spare port that a test may stop and start again on that port."""

    def __init__(self, folder: Path, appendonly: bool = False) -> None:
        self.folder, self.appendonly = folder, appendonly
        self.port = free_tcp_port()
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process, url = start_redis(self.folder, self.port, appendonly=self.appendonly)
        assert url == self.url

    def stop(self) -> None:
        """SIGTERM, as `systemctl stop` sends: with an append-only file, its writes are kept."""
        if self.process is not None:
            stop(self.process)
