"""Regions of a test's own (web, worker and beat each) on one PostgreSQL and Redis, HAProxy in
front of their web servers (lab/ha/haproxy.cfg), and what HAProxy thinks of each."""
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.ha.haproxy import render
from tests.faults.region import start_web
from tests.processes import free_tcp_port, region_worker_args, skip_or_fail, start, stop, wait_until

BEAT = ["-m", "celery", "-A", "maasproject", "beat", "-l", "info"]


@dataclass
class Region:
    """One region host: its three process groups, its web server's URL, its logs' folder."""

    name: str
    web: subprocess.Popen
    base: str
    worker: subprocess.Popen
    beat: subprocess.Popen
    folder: Path

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [self.web, self.worker, self.beat]

    @property
    def address(self) -> str:
        """host:port of its web server, as HAProxy's server line names it."""
        return self.base.removeprefix("http://")

    def ready(self) -> bool:
        """True once its worker consumes the region queue and its beat has sent a task."""
        for process in self.processes:
            assert process.poll() is None, f"region {self.name} lost a process:\n" + "\n".join(
                (self.folder / f"{part}.log").read_text()[-2000:] for part in ("worker", "beat"))
        worker = (self.folder / "worker.log").read_text(errors="replace")
        beat = (self.folder / "beat.log").read_text(errors="replace")
        return " ready." in worker and "Sending due task" in beat

    def kill(self) -> None:
        """kill -9 of its web, worker and beat, every process of each group (a host lost)."""
        for process in self.processes:
            os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            stop(process)


def start_region(name: str, env: dict, key: str, folder: Path) -> Region:
    """A region host on `env`'s database and broker, with a var/ of its own (as on its host).

    The web server reads the PROXY protocol line HAProxy sends (send-proxy), as the README
    tells a region behind HAProxy to.
    """
    folder.mkdir()
    extra = {**env, "VAR_DIR": str(folder / "var")}
    web, base = start_web(extra, folder / "web.log", key, options=("--proxy-protocol", "v1"))
    worker = start(region_worker_args(name), folder / "worker.log", **extra)
    beat = start(BEAT, folder / "beat.log", **extra)
    return Region(name, web, base, worker, beat, folder)


class HAProxy:
    """haproxy in the foreground on a spare port, configured from lab/ha/haproxy.cfg."""

    def __init__(self, folder: Path, regions: list[Region]) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            skip_or_fail("haproxy is not installed (apt-get install haproxy)")
        self.port = free_tcp_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.socket = folder / "haproxy.sock"
        self.log = folder / "haproxy.log"
        config = folder / "haproxy.cfg"
        config.write_text(render(f"127.0.0.1:{self.port}", [r.address for r in regions],
                                 str(self.socket)))
        # The servers are named region1, region2... in the order given.
        self.names = {region.name: f"region{n}" for n, region in enumerate(regions, start=1)}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def states(self) -> dict[str, str]:
        """Region name -> HAProxy's status of its server (UP, DOWN, "DOWN 1/1"...)."""
        assert self.process.poll() is None, "haproxy exited:\n" + self.log.read_text()
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(self.socket))
                client.sendall(b"show stat\n")
                text = b"".join(iter(lambda: client.recv(65536), b"")).decode()
        except OSError:
            return {}
        header, *rows = [line.split(",") for line in text.splitlines() if line]
        columns = {name: n for n, name in enumerate(header)}
        servers = {row[1]: row[columns["status"]] for row in rows if row[0] == "regions"}
        return {region: servers.get(server, "") for region, server in self.names.items()}

    def wait_all_up(self, timeout: float = 30) -> None:
        wait_until(lambda: set(self.states().values()) == {"UP"}, timeout,
                   lambda: f"{self.states()}\n{self.log.read_text()}")

    def stop(self) -> None:
        stop(self.process)
