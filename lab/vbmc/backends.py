"""Virtual BMC backends: the machine a virtual BMC controls (in memory, or a qemu VM over QMP)."""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

BOOT_DEVICES = ("default", "pxe", "disk", "cdrom", "bios", "floppy", "safe")


@dataclass
class BootDevice:
    """A boot device override as IPMI describes it (Set System Boot Options, parameter 5)."""

    device: str = "default"
    persistent: bool = False
    efi: bool = False


class Backend(ABC):
    """The machine behind a virtual BMC; methods are called from the BMC's event loop."""

    def __init__(self) -> None:
        self.boot = BootDevice()
        self.lock = threading.RLock()

    @abstractmethod
    def power_state(self) -> str:
        """Return `on` or `off`."""

    @abstractmethod
    def power_on(self) -> None:
        """Start the machine if it is off (booting from the next boot device)."""

    @abstractmethod
    def power_off(self) -> None:
        """Cut power (hard off)."""

    @abstractmethod
    def power_shutdown(self) -> None:
        """Ask the OS to shut down (ACPI power button, soft off)."""

    def power_reset(self) -> None:
        """Hard reset: off then on, consuming the one-time boot device."""
        with self.lock:
            if self.power_state() == "on":
                self.power_off()
            self.power_on()

    def power_cycle(self) -> None:
        """Power cycle: like reset; a machine that is off is simply powered on."""
        self.power_reset()

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        if device not in BOOT_DEVICES:
            raise ValueError(f"Unknown boot device {device!r}")
        with self.lock:
            self.boot = BootDevice(device, persistent and device != "default", efi)

    def get_boot_device(self) -> BootDevice:
        return self.boot

    def _consume_boot_device(self) -> BootDevice:
        """Return the device this boot uses; a one-time override is cleared by using it."""
        with self.lock:
            boot = self.boot
            if not boot.persistent:
                self.boot = BootDevice()
            return boot

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources (processes, sockets)."""


class MemoryBackend(Backend):
    """An in-memory machine: power state, boot device and a history of boots."""

    # With `state_file`, the state is written there as JSON after every change, so tests and
    # tools outside the BMC's process can see what the machine did.

    def __init__(self, power: str = "off", state_file: str | None = None) -> None:
        super().__init__()
        self.power = power
        self.state_file = state_file
        self.boots: list[BootDevice] = []
        self.events: list[str] = []
        self._save()

    def power_state(self) -> str:
        return self.power

    def power_on(self) -> None:
        with self.lock:
            self.events.append("on")
            if self.power == "off":
                self.power = "on"
                self.boots.append(self._consume_boot_device())
            self._save()

    def power_off(self) -> None:
        self._stop("off")

    def power_shutdown(self) -> None:
        self._stop("soft")

    def _stop(self, event: str) -> None:
        with self.lock:
            self.events.append(event)
            self.power = "off"
            self._save()

    def power_reset(self) -> None:
        self._restart("reset")

    def power_cycle(self) -> None:
        self._restart("cycle")

    def _restart(self, event: str) -> None:
        with self.lock:
            self.events.append(event)
            self.power = "on"
            self.boots.append(self._consume_boot_device())
            self._save()

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        super().set_boot_device(device, persistent=persistent, efi=efi)
        self._save()

    def snapshot(self) -> dict[str, Any]:
        return {"power": self.power, "boot": asdict(self.boot),
                "boots": [asdict(b) for b in self.boots], "events": list(self.events)}

    def _save(self) -> None:
        if not self.state_file:
            return
        temporary = f"{self.state_file}.tmp"
        with open(temporary, "w") as handle:
            json.dump(self.snapshot(), handle)
        os.replace(temporary, self.state_file)


class QMPError(Exception):
    """QMP refused a command or the connection failed."""


class QMPUnreachable(QMPError):
    """Nothing listens on the QMP socket: qemu is not running."""


class QMPClient:
    """A minimal QMP client: JSON lines over a unix socket, one connection per command."""

    def __init__(self, path: str, timeout: float = 3.0) -> None:
        self.path = path
        self.timeout = timeout

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one command after the capabilities handshake; return its `return` value."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError as exc:
                raise QMPUnreachable(f"Cannot connect to QMP socket {self.path}: {exc}") from exc
            reader = sock.makefile("rb")
            greeting = self._read(reader)
            if "QMP" not in greeting:
                raise QMPError(f"Not a QMP greeting: {greeting}")
            self._call(sock, reader, "qmp_capabilities")
            return self._call(sock, reader, command, arguments)

    def _call(self, sock, reader, command: str, arguments: dict | None = None) -> Any:
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read(reader)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise QMPError(f"{command}: {reply['error'].get('desc', reply['error'])}")

    @staticmethod
    def _read(reader) -> dict[str, Any]:
        try:
            line = reader.readline()
        except OSError as exc:
            raise QMPError(f"QMP read failed: {exc}") from exc
        if not line:
            raise QMPError("QMP connection closed")
        return json.loads(line)


QEMU_BOOT_ORDER = {"pxe": "n", "disk": "c", "cdrom": "d", "floppy": "a"}
DEFAULT_QEMU_COMMAND = (
    "qemu-system-x86_64 -machine accel=tcg -m 128 -nographic -nodefaults -display none "
    "-qmp unix:{qmp},server=on,wait=off -boot order={boot_order}"
)


def boot_indexes(device: str) -> dict[str, int]:
    """`bootindex` values for a command template (OVMF follows bootindex, not -boot order):
    {net_index}, {disk_index}, network first unless the boot device is the disk, as the
    lab's SeaBIOS VMs (the region's local-boot answer boots their disk)."""
    disk_first = device == "disk"
    return {"net_index": 2 if disk_first else 1, "disk_index": 1 if disk_first else 2}


class QemuBackend(Backend):
    """A qemu VM: power on starts qemu, soft off is system_powerdown, hard off is quit."""

    def __init__(
        self, qmp_path: str, command: str = DEFAULT_QEMU_COMMAND, default_order: str = "cn",
        start_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.qmp_path = qmp_path
        self.command = command
        self.default_order = default_order
        self.start_timeout = start_timeout
        self.qmp = QMPClient(qmp_path)
        self.process: subprocess.Popen | None = None
        self.last_command: list[str] = []

    def power_state(self) -> str:
        try:
            status = self.qmp.execute("query-status")
        except QMPUnreachable:
            return "off"
        except QMPError:
            # Connected but no answer in time: a busy qemu (TCG on loaded cores) is still on.
            return "on" if self.process is not None and self.process.poll() is None else "off"
        return "off" if status.get("status") == "shutdown" else "on"

    def power_on(self) -> None:
        with self.lock:
            if self.power_state() == "on":
                return
            boot = self._consume_boot_device()
            order = QEMU_BOOT_ORDER.get(boot.device, self.default_order)
            self.last_command = shlex.split(self.command.format(
                qmp=self.qmp_path, boot_order=order, efi=int(boot.efi),
                **boot_indexes(boot.device)))
            self._remove_stale_socket()
            self.process = subprocess.Popen(
                self.last_command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )
            self._wait_for_qmp()

    def _remove_stale_socket(self) -> None:
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)

    def _wait_for_qmp(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise QMPError(f"qemu exited with status {self.process.returncode}")
            if os.path.exists(self.qmp_path) and self.power_state() == "on":
                return
            time.sleep(0.05)
        raise QMPError("qemu did not open its QMP socket in time")

    def power_off(self) -> None:
        with self.lock:
            try:
                self.qmp.execute("quit")
            except QMPError:
                pass  # already gone, or it closed the connection while quitting
            self._reap()

    def _reap(self, timeout: float = 3.0) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.process = None

    def power_shutdown(self) -> None:
        try:
            self.qmp.execute("system_powerdown")
        except QMPError:
            pass  # off already

    def power_reset(self) -> None:
        with self.lock:
            self.power_off()
            self.power_on()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.power_off()
