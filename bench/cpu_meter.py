"""CPU seconds of a benchmark's parts from /proc: process groups, this database's PostgreSQL
backends, the shared services, the bench itself and the whole host (other people's work shows).
"""
import os
import resource
import subprocess
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group: its live processes plus the children they reaped."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat_fields(pid)
        if fields and int(fields[2]) == pgid:  # pgrp; utime, stime, cutime, cstime follow
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def pids_cpu(pids: list[int]) -> dict[int, float]:
    cpu = {}
    for pid in pids:
        fields = _stat_fields(str(pid))
        if fields:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return cpu


def postgres_backends() -> list[int]:
    """The PostgreSQL backend pids serving this database (empty elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def host_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole host spent not idle since boot (all cores), and of it in irqs."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(values[:8]) - values[3] - values[4]  # user..steal, minus idle and iowait
    return busy / CLOCK_TICKS, (values[5] + values[6]) / CLOCK_TICKS


def listen_overflows() -> int:
    """The host's TCP listen queue overflows so far (TcpExt ListenOverflows)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def named_cpu(names: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds of every live process whose command name is one of `names`."""
    cpu = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() in names:
                cpu.update(pids_cpu([int(pid)]))
        except OSError:
            continue
    return cpu


class CpuMeter:
    """CPU seconds of process groups, this database's backends, this process and the host.

    Backends come and go (connections older than CONN_MAX_AGE are replaced): they are
    sampled during the run too, and each counts up to its last sample.
    """

    def __init__(self, groups: dict[str, subprocess.Popen]):
        self.groups = groups
        self.postgres_pids: set[int] = set()

    def start(self) -> None:
        self.base = self._sample()
        self.backends = dict(self.base["postgres"])
        self.stopping = threading.Event()
        self.tracker = threading.Thread(target=self._track, daemon=True)
        self.tracker.start()

    def _track(self) -> None:
        from django.db import connection

        while not self.stopping.wait(0.5):
            self.backends.update(pids_cpu(postgres_backends()))
        connection.close()

    def finish(self) -> tuple[dict, dict]:
        """CPU seconds since start() by part; the host's and shared services' seconds."""
        self.stopping.set()
        self.tracker.join()
        end = self._sample()
        self.backends.update(end["postgres"])
        cpu = {name: end["groups"][name] - self.base["groups"][name] for name in self.groups}
        cpu["postgres"] = sum(value - self.base["postgres"].get(pid, 0.0)
                              for pid, value in self.backends.items())
        cpu["bench"] = end["self"] - self.base["self"]
        shared = {
            "host busy": end["host"][0] - self.base["host"][0],
            "irq": end["host"][1] - self.base["host"][1],
            # Shared with everyone else on the host: other databases, other Redis dbs.
            "other postgres processes": sum(
                value - self.base["services"].get(pid, 0.0)
                for pid, value in end["services"].items()
                if pid not in self.backends and pid in self.postgres_pids),
            "redis-server": sum(value - self.base["services"].get(pid, 0.0)
                                for pid, value in end["services"].items()
                                if pid not in self.postgres_pids),
        }
        return cpu, shared

    def _sample(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        postgres = named_cpu(("postgres",))
        self.postgres_pids |= set(postgres)
        return {"groups": {name: group_cpu(proc.pid) for name, proc in self.groups.items()},
                "postgres": pids_cpu(postgres_backends()),
                "services": {**postgres, **named_cpu(("redis-server",))},
                "self": usage.ru_utime + usage.ru_stime, "host": host_busy_seconds()}
