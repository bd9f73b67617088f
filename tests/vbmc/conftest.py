"""Fixtures for virtual BMCs (lab.vbmc): vBMC processes on random UDP ports, a fake QMP server."""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.processes import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "admin", "password"


def require_tool(name: str, package: str) -> str:
    """Path of a protocol-test tool; skip without it unless CI=true, where it must exist."""
    path = shutil.which(name)
    if not path:
        skip_or_fail(f"{name} is not installed (apt-get install -y {package})")
    return path


class VbmcProcess:
    """`python -m lab.vbmc --config ...` in a subprocess, with each BMC's state file."""

    def __init__(self, workdir: Path, specs: list[dict]) -> None:
        self.workdir = workdir
        for index, spec in enumerate(specs):
            spec.setdefault("port", 0)
            spec.setdefault("user", USER)
            spec.setdefault("password", PASSWORD)
            if spec.setdefault("backend", "memory") == "memory":
                spec.setdefault("state_file", str(workdir / f"bmc{index}.json"))
        self.specs = specs
        config = workdir / "vbmc.json"
        config.write_text(json.dumps({"bmcs": specs}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab.vbmc", "--config", str(config)], cwd=REPO,
            stdout=subprocess.PIPE, text=True,
        )
        self.ports = [entry["port"] for entry in self._ready(timeout=30)]

    def _ready(self, timeout: float) -> list[dict]:
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            self.stop()
            raise RuntimeError("the virtual BMC process did not start")
        return json.loads(line)["ready"]

    @property
    def port(self) -> int:
        return self.ports[0]

    def state(self, index: int = 0) -> dict:
        return json.loads(Path(self.specs[index]["state_file"]).read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def vbmc_factory(tmp_path):
    """Start a vBMC process from a list of BMC specs (see lab.vbmc.__main__)."""
    started: list[VbmcProcess] = []

    def start(specs: list[dict]) -> VbmcProcess:
        workdir = tmp_path / f"vbmc{len(started)}"
        workdir.mkdir()
        started.append(VbmcProcess(workdir, specs))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def vbmc(vbmc_factory) -> VbmcProcess:
    """One in-memory machine (powered off) behind a virtual BMC on a random port."""
    return vbmc_factory([{"power": "off"}])


@pytest.fixture
def ipmi_params():
    """Driver parameters for a vBMC port, with overrides."""

    def make(port: int, **overrides) -> dict:
        params = {"power_address": "127.0.0.1", "power_port": port, "power_user": USER,
                  "power_pass": PASSWORD}
        params.update(overrides)
        return params

    return make


class FakeQMPServer:
    """A unix socket speaking enough QMP to stand in for a running qemu."""

    def __init__(self, path: str, status: str = "running") -> None:
        self.path = path
        self.status = status
        self.commands: list[str] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        send = lambda message: conn.sendall(json.dumps(message).encode() + b"\n")  # noqa: E731
        send({"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}})
        for line in conn.makefile("rb"):
            command = json.loads(line)["execute"]
            self.commands.append(command)
            send({"event": "NOISE", "data": {}})  # events may come before the answer
            send(self._answer(command))
            if command == "quit":
                self.close()
                return

    def _answer(self, command: str) -> dict:
        if command == "query-status":
            return {"return": {"status": self.status, "running": self.status == "running"}}
        if command == "system_powerdown":
            self.status = "shutdown"
        if command in ("qmp_capabilities", "system_powerdown", "quit", "system_reset"):
            return {"return": {}}
        return {"error": {"class": "CommandNotFound", "desc": f"{command} not found"}}

    def close(self) -> None:
        self.listener.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


@pytest.fixture
def fake_qmp():
    """A fake QMP server in a short temporary directory (unix socket paths are short)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="qmp") as directory:
        server = FakeQMPServer(os.path.join(directory, "qmp.sock"))
        yield server
        server.close()
