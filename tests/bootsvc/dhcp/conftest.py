"""Fixtures for DHCP tests: a two-namespace lab and the server run as `python -m bootsvc.dhcp`."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.netlab import NetLab, unavailable_reason
from tests.processes import skip_or_fail

PROJECT_DIR = Path(__file__).resolve().parents[3]
SERVER_IP = "10.0.0.2"
CLIENT_IFACE = "c0"
SERVER_IFACE = "s0"
RAWCLIENT = [sys.executable, "-m", "tests.bootsvc.dhcp.rawclient"]


def need(condition_reason: str | None) -> None:
    """Skip with the reason outside CI; fail in CI (these tests must run there)."""
    if condition_reason is not None:
        skip_or_fail(condition_reason)


def tool(name: str, package: str) -> str:
    """Path of a protocol peer; skip without it unless CI=true."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.path.exists(p)), None)
    need(None if path else f"{name} is not installed (apt-get install -y {package})")
    return path


def subnet_config(**overrides) -> dict:
    subnet = {
        "vlan": 5, "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "dns_servers": ["10.0.0.1"],
        "mtu": 1500, "lease_time": 600, "enlist_lease_time": 120, "allow_enlistment": True,
        "dynamic_ranges": [{"start": "10.0.0.100", "end": "10.0.0.199"}],
        "reserved_ranges": [{"start": "10.0.0.2", "end": "10.0.0.9"}],
    }
    subnet.update(overrides)
    return subnet


def rack_config(subnets=None, hosts=(), leases=()) -> dict:
    return {"rack": {"system_id": "abc123", "name": "rack1"}, "http_port": 5248,
            "dhcp": {"subnets": subnets or [subnet_config()], "hosts": list(hosts),
                     "leases": list(leases)}}


@pytest.fixture
def lab():
    need(unavailable_reason())
    with NetLab("dh") as lab:
        lab.srv, lab.cli = lab.netns("srv"), lab.netns("cli")
        lab.veth(lab.srv, SERVER_IFACE, lab.cli, CLIENT_IFACE)
        lab.addr(lab.srv, SERVER_IFACE, f"{SERVER_IP}/24")
        yield lab


class ServerProcess:
    """The DHCP server running in the lab's server namespace."""

    def __init__(self, lab: NetLab, tmp: Path, config: dict):
        self.lab, self.tmp = lab, tmp
        self.config_path, self.state_dir = tmp / "dhcp.json", tmp / "state"
        self.counters_path, self.report_path = tmp / "counters.json", tmp / "report.jsonl"
        self.write_config(config)
        self.proc = None

    def write_config(self, config: dict) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        os.replace(tmp, self.config_path)

    def start(self) -> None:
        cmd = [sys.executable, "-m", "bootsvc.dhcp", "--config", str(self.config_path),
               "--interface", SERVER_IFACE, "--server-ip", SERVER_IP,
               "--state-dir", str(self.state_dir), "--counters-file", str(self.counters_path),
               "--report-file", str(self.report_path)]
        log = open(self.tmp / "server.log", "a")
        self.proc = self.lab.popen(self.lab.srv, cmd, cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                                   stderr=log, text=True)
        assert self.proc.stdout.readline().strip() == "ready", self.log()

    def kill(self, sig=15) -> None:
        self.lab.kill(self.proc, sig)

    def log(self) -> str:
        return (self.tmp / "server.log").read_text()

    def counters(self, wait: float = 1.5) -> dict:
        time.sleep(wait)
        return json.loads(self.counters_path.read_text())


@pytest.fixture
def dhcp_server(lab, tmp_path):
    def start(config: dict | None = None) -> ServerProcess:
        server = ServerProcess(lab, tmp_path, config or rack_config())
        server.start()
        return server
    return start


def raw_client(lab: NetLab, *args: str, ns: str | None = None) -> dict:
    result = lab.run(ns or lab.cli, [*RAWCLIENT, *args], cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
