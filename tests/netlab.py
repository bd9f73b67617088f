"""Isolated test networks: network namespaces joined by veth pairs and bridges, torn down after.

Nothing links a lab to the root namespace and no lab namespace has a route out.

    with NetLab("dhcp") as lab:
        srv, cli = lab.netns("srv"), lab.netns("cli")
        lab.veth(srv, "s0", cli, "c0")
        lab.addr(srv, "s0", "10.0.0.2/24")
        lab.run(cli, ["udhcpc", "-i", "c0", "-n", "-q"])
"""
import contextlib
import os
import shutil
import signal
import subprocess
import uuid


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class NetLab:
    """A set of namespaces (and the processes started in them) deleted together by close()."""

    def __init__(self, prefix: str = "lab"):
        self.tag = f"{prefix}{uuid.uuid4().hex[:6]}"
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "NetLab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def netns(self, name: str) -> str:
        """Create a namespace (loopback up) and return its full name."""
        full = f"{self.tag}-{name}"
        _ip("netns", "add", full)
        self.namespaces.append(full)
        _ip("-n", full, "link", "set", "lo", "up")
        return full

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair with one end in each namespace, both up."""
        _ip("-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
            "netns", ns_b)
        _ip("-n", ns_a, "link", "set", if_a, "up")
        _ip("-n", ns_b, "link", "set", if_b, "up")

    def bridge(self, ns: str, name: str, ports: list[str] = ()) -> None:
        """A bridge in ns with the given interfaces of ns as ports."""
        _ip("-n", ns, "link", "add", name, "type", "bridge")
        _ip("-n", ns, "link", "set", name, "up")
        for port in ports:
            _ip("-n", ns, "link", "set", port, "master", name)

    def addr(self, ns: str, iface: str, cidr: str) -> None:
        _ip("-n", ns, "addr", "add", cidr, "dev", iface)

    def route(self, ns: str, destination: str, via: str) -> None:
        _ip("-n", ns, "route", "add", destination, "via", via)

    def command(self, ns: str, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def run(self, ns: str, cmd: list[str], timeout: float = 60, **kwargs):
        """Run cmd in ns to completion (CompletedProcess, text output captured)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(ns, cmd), timeout=timeout, **kwargs)

    def popen(self, ns: str, cmd: list[str], **kwargs) -> subprocess.Popen:
        """Start cmd in ns in its own process group; close() stops it."""
        proc = subprocess.Popen(self.command(ns, cmd), start_new_session=True, **kwargs)
        self.processes.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        """Signal proc's process group and wait for it (SIGKILL after timeout)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for proc in self.processes:
            self.kill(proc)
        self.processes.clear()
        for ns in reversed(self.namespaces):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():  # leftovers of processes started in this lab
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self.namespaces.clear()
