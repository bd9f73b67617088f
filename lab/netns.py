"""Isolated networks: network namespaces joined by veth pairs and bridges, torn down after.

Nothing links a lab to the root namespace and no lab namespace has a route out.

    with NetLab("dhcp") as lab:
        srv, cli = lab.netns("srv"), lab.netns("cli")
        lab.veth(srv, "s0", cli, "c0")
        lab.addr(srv, "s0", "10.0.0.2/24")
        lab.run(cli, ["udhcpc", "-i", "c0", "-n", "-q"])
"""
import contextlib
import json
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


def ip(*args: str) -> None:
    """Run `ip ARGS`; raise with its stderr on failure."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def namespaces(prefix: str = "") -> list[str]:
    """Names of the network namespaces that start with prefix."""
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    return [name for name in names if name.startswith(prefix)]


def links(prefix: str, ns: str | None = None) -> list[str]:
    """Interfaces whose name starts with prefix (root namespace, or ns)."""
    where = ["-n", ns] if ns else []
    result = subprocess.run(["ip", *where, "-j", "link", "show"], capture_output=True,
                            text=True)
    try:
        found = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return [link["ifname"] for link in found if link.get("ifname", "").startswith(prefix)]


def namespace_pids(ns: str) -> list[int]:
    """Processes running in namespace ns."""
    result = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(pid) for pid in result.stdout.split() if pid.isdigit()]


def delete_namespace(ns: str) -> None:
    """Delete ns (its interfaces, veth peers included, go with it); quiet if already gone."""
    subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


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
        ip("netns", "add", full)
        self.namespaces.append(full)
        ip("-n", full, "link", "set", "lo", "up")
        return full

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair with one end in each namespace, both up."""
        ip("-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        ip("-n", ns_a, "link", "set", if_a, "up")
        ip("-n", ns_b, "link", "set", if_b, "up")

    def bridge(self, ns: str, name: str, ports: list[str] = ()) -> None:
        """A bridge in ns with the given interfaces of ns as ports."""
        ip("-n", ns, "link", "add", name, "type", "bridge")
        ip("-n", ns, "link", "set", name, "up")
        for port in ports:
            ip("-n", ns, "link", "set", port, "master", name)

    def tap(self, ns: str, name: str, bridge: str) -> None:
        """A tap device in ns (for qemu), up and enslaved to bridge."""
        ip("-n", ns, "tuntap", "add", "dev", name, "mode", "tap")
        ip("-n", ns, "link", "set", name, "master", bridge)
        ip("-n", ns, "link", "set", name, "up")

    def addr(self, ns: str, iface: str, cidr: str) -> None:
        ip("-n", ns, "addr", "add", cidr, "dev", iface)

    def route(self, ns: str, destination: str, via: str) -> None:
        ip("-n", ns, "route", "add", destination, "via", via)

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
            for pid in namespace_pids(ns):  # leftovers of processes started in this lab
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            delete_namespace(ns)
        self.namespaces.clear()
