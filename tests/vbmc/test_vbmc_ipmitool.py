"""Our virtual BMC against ipmitool (lanplus), and its QMP (qemu) backend."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from lab.vbmc.backends import QemuBackend, QMPClient, QMPError
from power.drivers.ipmi import IPMIDriver
from tests.vbmc.conftest import PASSWORD, USER, require_tool

SUITES = pytest.mark.parametrize("suite", ["3", "17"])


@pytest.fixture
def ipmitool():
    path = require_tool("ipmitool", "ipmitool")

    def run(port: int, *args: str, suite: str | None = None, password: str = PASSWORD):
        command = [path, "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", USER,
                   "-P", password, "-R", "2", "-N", "1"]
        if suite:
            command += ["-C", suite]
        return subprocess.run(command + list(args), capture_output=True, text=True, timeout=30)

    return run


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@SUITES
def test_power_commands(vbmc, ipmitool, suite):
    assert "Chassis Power is off" in _ok(ipmitool(vbmc.port, "power", "status", suite=suite))
    _ok(ipmitool(vbmc.port, "power", "on", suite=suite))
    assert vbmc.state()["power"] == "on"
    assert "Chassis Power is on" in _ok(ipmitool(vbmc.port, "power", "status", suite=suite))
    _ok(ipmitool(vbmc.port, "power", "cycle", suite=suite))
    _ok(ipmitool(vbmc.port, "power", "soft", suite=suite))
    assert vbmc.state()["power"] == "off"
    _ok(ipmitool(vbmc.port, "power", "on", suite=suite))
    _ok(ipmitool(vbmc.port, "power", "off", suite=suite))
    assert vbmc.state()["events"] == ["on", "cycle", "soft", "on", "off"]
    assert "Chassis Power is off" in _ok(ipmitool(vbmc.port, "power", "status", suite=suite))


def test_default_cipher_suite_negotiation(vbmc, ipmitool):
    """Without -C, ipmitool asks Get Channel Cipher Suites and picks from what we offer."""
    assert "Chassis Power is off" in _ok(ipmitool(vbmc.port, "power", "status"))


def test_bootdev_pxe_is_used_once_by_the_next_boot(vbmc, ipmitool):
    _ok(ipmitool(vbmc.port, "chassis", "bootdev", "pxe"))
    assert vbmc.state()["boot"] == {"device": "pxe", "persistent": False, "efi": False}
    assert "Force PXE" in _ok(ipmitool(vbmc.port, "chassis", "bootparam", "get", "5"))
    _ok(ipmitool(vbmc.port, "chassis", "bootdev", "disk", "options=persistent,efiboot"))
    assert vbmc.state()["boot"] == {"device": "disk", "persistent": True, "efi": True}
    _ok(ipmitool(vbmc.port, "chassis", "bootdev", "pxe"))
    _ok(ipmitool(vbmc.port, "power", "on"))
    state = vbmc.state()
    assert state["boots"] == [{"device": "pxe", "persistent": False, "efi": False}]
    assert state["boot"]["device"] == "default"


def test_wrong_password_is_refused(vbmc, ipmitool):
    result = ipmitool(vbmc.port, "power", "on", password="wrong")
    assert result.returncode != 0
    assert vbmc.state()["power"] == "off"


# QMP backend ---------------------------------------------------------------------------------


def test_qmp_client_and_backend_against_fake_qmp(fake_qmp):
    client = QMPClient(fake_qmp.path)
    assert client.execute("query-status")["status"] == "running"
    with pytest.raises(QMPError, match="not found"):
        client.execute("no-such-command")
    backend = QemuBackend(fake_qmp.path)
    assert backend.power_state() == "on"
    backend.power_shutdown()
    assert "system_powerdown" in fake_qmp.commands
    assert backend.power_state() == "off"  # guest shut down (qemu -no-shutdown keeps running)
    backend.power_off()
    assert fake_qmp.commands[-1] == "quit"
    assert backend.power_state() == "off"


def test_a_qemu_too_busy_to_answer_qmp_is_on_and_one_not_listening_is_off(qmp_path):
    backend = QemuBackend(qmp_path)
    assert backend.power_state() == "off"  # no socket at all
    busy = socket.socket(socket.AF_UNIX)  # accepts (the kernel does), never answers
    busy.bind(qmp_path)
    busy.listen(1)
    backend.qmp.timeout = 0.2
    backend.process = subprocess.Popen(["sleep", "30"])
    try:
        assert backend.power_state() == "on"  # its qemu runs: busy, not off
        backend.process.kill()
        backend.process.wait()
        assert backend.power_state() == "off"
    finally:
        backend.process.kill()
        busy.close()


def _qemu_processes(qmp: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if qmp in cmdline and "qemu-system" in cmdline:
            found.append(cmdline)
    return found


@pytest.fixture
def qmp_path():
    directory = tempfile.mkdtemp(prefix="vbmcq")
    yield os.path.join(directory, "qmp.sock")
    shutil.rmtree(directory, ignore_errors=True)


def test_real_qemu_through_the_bmc(vbmc_factory, ipmi_params, qmp_path):
    qemu = require_tool("qemu-system-x86_64", "qemu-system-x86")
    command = (f"{qemu} -machine accel=tcg -m 64 -nographic -nodefaults -display none "
               "-qmp unix:{qmp},server=on,wait=off -boot order={boot_order}")
    vbmc = vbmc_factory([{"backend": "qemu", "qmp": qmp_path, "command": command}])
    driver = IPMIDriver(ipmi_params(vbmc.port))
    driver.timeout = 30  # the vBMC's loop waits for qemu (TCG) to start: slow on a busy host
    try:
        assert driver.power_query() == "off"
        driver.power_on(netboot=True)
        assert driver.power_query() == "on"
        [cmdline] = _qemu_processes(qmp_path)
        assert "order=n" in cmdline
        driver.power_off(mode="soft")  # no OS: ACPI power button is ignored, VM stays on
        assert driver.power_query() == "on"
        driver.power_off(mode="hard")
        assert driver.power_query() == "off"
        assert _qemu_processes(qmp_path) == []
    finally:
        vbmc.stop()


def test_ovmf_boot_indexes_follow_the_boot_device_efi_flag_included(vbmc_factory, ipmi_params,
                                                                     qmp_path):
    """OVMF ignores -boot order: a UEFI VM's command takes bootindex values from the BMC's boot
    device (`bootdev disk`: disk first; `bootdev pxe options=efiboot`: network first)."""
    qemu = require_tool("qemu-system-x86_64", "qemu-system-x86")
    command = (f"{qemu} -machine accel=tcg -m 64 -nographic -nodefaults -display none "
               "-qmp unix:{qmp},server=on,wait=off -name net{net_index}-disk{disk_index}")
    vbmc = vbmc_factory([{"backend": "qemu", "qmp": qmp_path, "command": command}])
    driver = IPMIDriver(ipmi_params(vbmc.port))
    driver.timeout = 30
    try:
        driver.set_boot_device("disk", efi=True)
        driver.power_on()
        assert "-name net2-disk1" in _qemu_processes(qmp_path)[0]
        driver.power_off(mode="hard")
        driver.power_on(netboot=True, efi=True)
        assert "-name net1-disk2" in _qemu_processes(qmp_path)[0]
        driver.power_off(mode="hard")
    finally:
        vbmc.stop()


def test_in_process_host_serves_many_bmcs(ipmitool):
    """BmcHost runs several BMCs on pyghmi's one event loop inside the calling process."""
    from lab.vbmc.backends import MemoryBackend
    from lab.vbmc.server import BmcHost

    host = BmcHost()
    backends = [MemoryBackend() for _ in range(5)]
    bmcs = [host.add(backend, {USER: PASSWORD}) for backend in backends]
    host.start()
    try:
        _ok(ipmitool(bmcs[3].port, "power", "on"))
        assert [b.power for b in backends] == ["off", "off", "off", "on", "off"]
    finally:
        host.stop()
    assert host.bmcs == {}
