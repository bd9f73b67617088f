"""A PostgreSQL cluster of its own: one etcd member and Patroni nodes (lab/ha/patroni.yml).

Every process runs in its own session on spare ports, data in a temporary folder; PostgreSQL
and Patroni run as the `postgres` user when run as root. Never the machine's shared
PostgreSQL. Used by the HA tests (tests/ha/patroni.py) and `make ha-demo` (lab/ha/demo.py).
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from lab.ha.patroni import render
from lab.ha.procs import binary, free_tcp_port, stop, unavailable, wait_until

TIMING = (10, 1, 3)  # ttl, loop_wait, retry_timeout: a lost leader is replaced in ~10 s


def _binary(name: str, missing) -> str:
    return binary(name, "apt-get install patroni etcd-server", missing)


def _popen(args: list[str], log: Path, user: str | None = None) -> subprocess.Popen:
    """args in a session of its own (as `user` through runuser when root), output to log."""
    if user and os.geteuid() == 0:
        args = ["runuser", "-u", user, "--", *args]
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path} missing)"


class Etcd:
    """One etcd member on spare client and peer ports."""

    def __init__(self, folder: Path, missing=unavailable) -> None:
        etcd = _binary("etcd", missing)
        self.port, peer = free_tcp_port(), free_tcp_port()
        self.log = folder / "etcd.log"
        client, peers = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{peer}"
        self.process = _popen([
            etcd, "--name", "e1", "--data-dir", str(folder / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peers, "--initial-advertise-peer-urls", peers,
            "--initial-cluster", f"e1={peers}", "--initial-cluster-state", "new"], self.log)
        wait_until(self.healthy, 30, lambda: _tail(self.log))

    def healthy(self) -> bool:
        assert self.process.poll() is None, "etcd exited:\n" + _tail(self.log)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except OSError:
            return False

    def stop(self) -> None:
        stop(self.process)


class PatroniNode:
    """One Patroni node: its PostgreSQL port, REST API port, data dir and process group."""

    def __init__(self, name: str, folder: Path, etcd: Etcd, scope: str,
                 missing=unavailable) -> None:
        self.name, self.folder = name, folder / name
        self.folder.mkdir()
        self.pg_port, self.rest_port = free_tcp_port(), free_tcp_port()
        self.data = self.folder / "data"
        self.log = self.folder / "patroni.log"
        config = self.folder / "patroni.yml"
        config.write_text(render(
            name, "127.0.0.1", [f"127.0.0.1:{etcd.port}"], network="127.0.0.1/32",
            data_dir=str(self.data), scope=scope, pg_port=self.pg_port,
            rest_port=self.rest_port, auth="trust", socket_dir=str(self.folder),
            timing=TIMING))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (folder, self.folder, config):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.process = _popen([_binary("patroni", missing), str(config)], self.log,
                              user="postgres")

    def rest(self, path: str) -> tuple[int, dict]:
        """(status, JSON body) of a GET on its REST API; (0, {}) when it does not answer."""
        url = f"http://127.0.0.1:{self.rest_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (OSError, ValueError):
            return 0, {}

    def is_primary(self) -> bool:
        """Its REST API's /primary answers 200: it holds the leader key and runs read-write."""
        return self.rest("/primary")[0] == 200

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """kill -9 of Patroni (first, so that it restarts nothing) and of PostgreSQL: Patroni
        starts the postmaster in a session of its own (setsid), its backends in that group."""
        group = os.getpgid(self.postmaster_pid())
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        os.killpg(group, signal.SIGKILL)

    def stop(self) -> None:
        """Stop Patroni (which stops its PostgreSQL), then anything left of PostgreSQL."""
        stop(self.process)
        try:
            os.killpg(os.getpgid(self.postmaster_pid()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


class Cluster:
    """etcd and `size` Patroni nodes; the first node bootstraps, the others clone it."""

    def __init__(self, size: int = 2, scope: str = "maas-test", missing=unavailable) -> None:
        # Not pytest's tmp_path: its parents are closed to the `postgres` user.
        self.folder = folder = Path(tempfile.mkdtemp(prefix="ha-patroni-"))
        self.etcd = Etcd(folder, missing)
        self.nodes: list[PatroniNode] = []
        first = PatroniNode("pg1", folder, self.etcd, scope, missing)
        self.nodes.append(first)
        wait_until(first.is_primary, 90, lambda: _tail(first.log))
        for n in range(2, size + 1):
            self.nodes.append(PatroniNode(f"pg{n}", folder, self.etcd, scope, missing))

    @property
    def url_hosts(self) -> str:
        """host:port,host:port... of every node, for a multi-host DATABASE_URL."""
        return ",".join(f"127.0.0.1:{node.pg_port}" for node in self.nodes)

    def members(self) -> dict[str, str]:
        """Member name -> role as Patroni's /cluster reports it (leader, sync_standby...)."""
        for node in self.nodes:
            status, body = node.rest("/cluster")
            if status == 200:
                return {m["name"]: m["role"] for m in body.get("members", [])}
        return {}

    def wait_synchronous(self, timeout: float = 90) -> None:
        """Until one node leads and every other is a synchronous standby that streams."""
        wanted = {"leader", "sync_standby"}
        wait_until(lambda: set(self.members().values()) == wanted, timeout,
                   lambda: f"{self.members()}\n{self.logs()}")

    def create_database(self, name: str) -> None:
        """CREATE DATABASE on the leader; the standbys get it by replication."""
        port = self.primary().pg_port
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def query(self, node: PatroniNode, sql: str) -> list[tuple]:
        """Rows of one query on `node`'s maas database (a connection of its own)."""
        with psycopg.connect(host="127.0.0.1", port=node.pg_port, user="postgres",
                             dbname="maas", connect_timeout=5) as connection:
            return connection.execute(sql).fetchall()

    def primary(self) -> PatroniNode:
        return next(node for node in self.nodes if node.is_primary())

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.etcd.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def logs(self) -> str:
        """The end of every node's Patroni log, for a failure message."""
        return "\n".join(f"--- {node.name}\n{_tail(node.log)}" for node in self.nodes)
