"""Regions of a test's own (web, worker and beat each) on one PostgreSQL and Redis, HAProxy in
front of their web servers (lab/ha/haproxy.cfg), and what HAProxy thinks of each."""
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.ha import proxy
from tests.faults.region import start_web
from tests.processes import region_worker_args, skip_or_fail, start, stop

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
        """True once its worker consumes the region queue and its beat runs (it may never send
        a task: the other region's beat can win every tick's claim)."""
        for process in self.processes:
            assert process.poll() is None, f"region {self.name} lost a process:\n" + "\n".join(
                (self.folder / f"{part}.log").read_text()[-2000:] for part in ("worker", "beat"))
        worker = (self.folder / "worker.log").read_text(errors="replace")
        beat = (self.folder / "beat.log").read_text(errors="replace")
        return " ready." in worker and "beat: Starting..." in beat

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


class HAProxy(proxy.HAProxy):
    """lab/ha/proxy.py's haproxy in front of `regions`, a missing binary a skip."""

    def __init__(self, folder: Path, regions: list[Region]) -> None:
        super().__init__(folder, [(region.name, region.address) for region in regions],
                         missing=skip_or_fail)
