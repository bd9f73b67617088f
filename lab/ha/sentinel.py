"""A Redis master, its replica and three Sentinels of its own, on spare ports (the HA tests'
through tests/ha/sentinel.py, and `make ha-demo`'s).

Both Redis servers keep an append-only file, fsynced at every write (`appendfsync always`, as
the README asks of a broker: a master restarted before Sentinel fails it over comes back with
everything it acknowledged; a failover itself keeps what reached the replica). Sentinels:
quorum 2 of 3, a master down after 1 s, failover timeout 5 s (the tests' pace; production
values in the README).
"""
import signal
import subprocess
import time
from pathlib import Path

import redis

from lab.ha.procs import binary, free_tcp_port, stop, unavailable, wait_until

MASTER_NAME = "metal"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _server(folder: Path, name: str, args: list[str], missing) -> subprocess.Popen:
    server = binary("redis-server", "apt-get install redis-server", missing)
    log = folder / f"{name}.log"
    return subprocess.Popen([server, *args, "--logfile", str(log)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _answers(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False


class SentinelGroup:
    """Master and replica (redis-server --appendonly yes), three Sentinels watching them."""

    def __init__(self, folder: Path, missing=unavailable) -> None:
        self.folder, self.missing = folder, missing
        self.ports = {"a": free_tcp_port(), "b": free_tcp_port()}
        self.sentinel_ports = [free_tcp_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """The broker URL, kombu's form: every Sentinel, database 0."""
        return ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports) + "/0"

    def start(self) -> None:
        for name, port in self.ports.items():
            data = self.folder / f"redis-{name}"
            data.mkdir()
            args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data),
                    "--appendonly", "yes", "--appendfsync", "always"]
            if name == "b":
                args += ["--replicaof", "127.0.0.1", str(self.ports["a"])]
            self.processes[name] = _server(self.folder, f"redis-{name}", args, self.missing)
        for port in self.ports.values():
            wait_until(lambda port=port: _answers(port), 15, self.logs)
        wait_until(lambda: self.role("b") == "slave" and self.linked(), 15, self.logs)
        for n, port in enumerate(self.sentinel_ports):
            self.processes[f"sentinel-{n}"] = _server(self.folder, f"sentinel-{n}",
                                                      [str(self.sentinel_config(n, port)),
                                                       "--sentinel"], self.missing)
        wait_until(lambda: all(self.sentinels_agree(port) for port in self.sentinel_ports), 30,
                   self.logs)

    def sentinel_config(self, n: int, port: int) -> Path:
        """A Sentinel's config file: it rewrites it (what it learnt), so one each, writable."""
        path = self.folder / f"sentinel-{n}.conf"
        path.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['a']} 2\n"
                        f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                        f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                        f"sentinel parallel-syncs {MASTER_NAME} 1\n")
        return path

    def role(self, name: str) -> str:
        try:
            return redis.Redis(port=self.ports[name], socket_timeout=1).info("replication")["role"]
        except redis.exceptions.RedisError:
            return "down"

    def linked(self) -> bool:
        info = redis.Redis(port=self.ports["b"], socket_timeout=1).info("replication")
        return info.get("master_link_status") == "up"

    def sentinels_agree(self, port: int) -> bool:
        """This Sentinel knows the replica and the two other Sentinels."""
        try:
            state = redis.Redis(port=port, socket_timeout=1).sentinel_master(MASTER_NAME)
        except redis.exceptions.RedisError:
            return False
        return state["num-slaves"] == 1 and state["num-other-sentinels"] == 2

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                host = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(
                    MASTER_NAME)
            except redis.exceptions.RedisError:
                continue
            return int(host[1]) if host else None
        return None

    def kill_master(self) -> float:
        """kill -9 of the master (process `a`); the monotonic time of the kill."""
        process = self.processes["a"]
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=10)
        return killed

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
                         for path in sorted(self.folder.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes.values():
            stop(process)
