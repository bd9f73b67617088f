"""Lab VMs: qemu (TCG) with a fixed MAC, a virtio disk, a serial console file and a virtual BMC;
SeaBIOS ("bios"), or OVMF ("uefi", "uefi-secureboot" with Microsoft's keys enrolled, and
"uefi-http": Secure Boot off and PXE turned off, so the firmware boots over UEFI HTTP boot).

A VM is off until powered on through its BMC (`lab.vbmc`, qemu backend): the BMC starts qemu
in the bridge namespace, where its tap is, and stops it over QMP.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.vbmc.backends import QMPClient, QMPError, QMPUnreachable

ROM = "/usr/lib/ipxe/qemu/efi-virtio.rom"  # qemu's default virtio-net ROM (BIOS+EFI iPXE)
PROJECT_DIR = Path(__file__).resolve().parents[1]
BMC_USER, BMC_PASSWORD = "admin", "password"
BOOT_LOADER_FAILED = "Boot failed: press a key to retry"  # pxelinux, before any kernel runs
BOOTED_OR_FAILED = re.compile(r"Linux version|" + re.escape(BOOT_LOADER_FAILED))
OVMF_DIR = "/usr/share/OVMF"
# Firmware code and the variable store each VM gets a copy of (Debian's ovmf package): the .ms
# store enrols Microsoft's UEFI CA, which signed Debian's shim, and turns Secure Boot on.
OVMF = {"uefi": ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
        "uefi-secureboot": ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"),
        "uefi-http": ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")}
# OVMF's switches (fw_cfg) for its PXE boot options: off, only its HTTP boot options remain.
NO_PXE = ("-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n "
          "-fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n")
FIRMWARES = ("bios", *OVMF)


def unavailable_reason() -> str | None:
    """Why lab VMs cannot run here (qemu or its iPXE ROM missing), or None."""
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is missing (apt-get install -y qemu-system-x86)"
    if not os.path.exists(ROM):
        return f"{ROM} is missing (apt-get install -y ipxe-qemu)"
    return None


def firmware_unavailable(firmware: str) -> str | None:
    """Why VMs with this firmware cannot run here, or None."""
    if firmware not in FIRMWARES:
        return f"unknown firmware {firmware!r}: one of {', '.join(FIRMWARES)}"
    missing = [name for name in OVMF.get(firmware, ()) if not os.path.exists(
        os.path.join(OVMF_DIR, name))]
    return f"{', '.join(missing)} missing (apt-get install -y ovmf)" if missing else None


# Terminal control sequences (CSI) and carriage returns on the serial console.
TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r")


def plain_console(text: str) -> str:
    """Console text without terminal control, for matching whole lines and words."""
    return TERMINAL_CONTROL.sub("", text)


def mac_for(index: int) -> str:
    return f"52:54:00:99:00:{index + 1:02x}"


@dataclass
class VM:
    """One VM and its BMC; `power_*` go through the BMC with our IPMI driver."""

    name: str
    mac: str
    bmc_address: str
    bmc_port: int
    bmc_user: str
    bmc_password: str
    console: str
    disk: str
    qmp: str
    tap: str
    netns: str
    memory: int
    firmware: str = "bios"

    @property
    def console_log(self) -> Path:
        return Path(self.console)

    @property
    def power_parameters(self) -> dict:
        """The region's `ipmi` power parameters for this VM."""
        return {"power_address": self.bmc_address, "power_port": self.bmc_port,
                "power_user": self.bmc_user, "power_pass": self.bmc_password}

    @property
    def efi_vars(self) -> str:
        """The VM's own copy of the OVMF variable store (boot entries, Secure Boot keys)."""
        return str(Path(self.disk).with_name("efivars.fd"))

    def qemu_command(self, qemu: str) -> str:
        """The BMC's qemu command template ({qmp} filled by the BMC). SeaBIOS: network, then
        disk, always (local boot is the region's answer). OVMF: the network first too, unless
        the BMC was told `bootdev disk` ({net_index}, {disk_index})."""
        console = (f"-chardev file,id=console,path={self.console},append=on "
                   "-serial chardev:console -qmp unix:{qmp},server=on,wait=off")
        netdev = f"-netdev tap,id=n0,ifname={self.tap},script=no,downscript=no"
        if self.firmware == "bios":
            return (f"{qemu} -name {self.name} -machine accel=tcg -m {self.memory} "
                    f"-display none -nographic -nodefaults {console} {netdev} "
                    f"-device virtio-net-pci,netdev=n0,mac={self.mac} "
                    f"-drive file={self.disk},if=virtio,format=raw -boot order=nc")
        code = os.path.join(OVMF_DIR, OVMF[self.firmware][0])
        # Secure Boot's variable store is writable only from SMM: q35 with SMM and a secure
        # flash. No option ROM: OVMF's own virtio-net driver and PXE/HTTP boot clients.
        secure = (",smm=on -global driver=cfi.pflash01,property=secure,value=on"
                  if self.firmware == "uefi-secureboot" else "")
        if self.firmware == "uefi-http":
            secure += f" {NO_PXE}"
        return (f"{qemu} -name {self.name} -machine q35,accel=tcg{secure} -m {self.memory} "
                f"-display none -nographic -nodefaults {console} "
                f"-drive if=pflash,format=raw,unit=0,readonly=on,file={code} "
                f"-drive if=pflash,format=raw,unit=1,file={self.efi_vars} {netdev} "
                f"-device virtio-net-pci,netdev=n0,mac={self.mac},romfile=,"
                "bootindex={net_index} "
                f"-drive file={self.disk},if=none,id=disk0,format=raw "
                "-device virtio-blk-pci,drive=disk0,bootindex={disk_index}")

    def bmc_spec(self, qemu: str) -> dict:
        return {"name": self.name, "address": self.bmc_address, "port": self.bmc_port,
                "user": self.bmc_user, "password": self.bmc_password, "backend": "qemu",
                "qmp": self.qmp, "command": self.qemu_command(qemu)}

    def create_disk(self, size_gib: int) -> None:
        """A sparse raw disk (blank: the first boot falls through to the network) and, on
        UEFI, a fresh variable store: a new machine out of its box."""
        Path(self.disk).parent.mkdir(parents=True, exist_ok=True)
        with open(self.disk, "wb") as handle:
            handle.truncate(size_gib << 30)
        if self.firmware in OVMF:
            shutil.copyfile(os.path.join(OVMF_DIR, OVMF[self.firmware][1]), self.efi_vars)

    def to_dict(self) -> dict:
        return asdict(self)

    def console_text(self, since: int = 0) -> str:
        """The serial console log (from byte `since`); empty before the first boot."""
        try:
            with open(self.console, "rb") as handle:
                handle.seek(since)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def console_plain(self, since: int = 0) -> str:
        """console_text without terminal control: syslinux and iPXE move the cursor mid-line
        (`L\\r\\x1b[25;02Hoading` when the screen scrolls), which would split the words."""
        return plain_console(self.console_text(since))

    def console_size(self) -> int:
        """A mark for wait_for_console(since=...): the log's current length."""
        try:
            return os.path.getsize(self.console)
        except OSError:
            return 0

    def wait_for_console(self, pattern: str | re.Pattern, timeout: float = 180,
                         since: int = 0) -> str:
        """Wait until the console shows pattern (text or regex); return the matched text."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.console_text(since))
            if match:
                return match.group(0)
            if time.monotonic() > deadline:
                tail = self.console_text(since)[-3000:]
                raise AssertionError(f"{self.name}: {regex.pattern!r} not on the console after "
                                     f"{timeout}s ({self.console}); last output:\n{tail}")
            time.sleep(0.5)

    def ipmi(self, action: str, netboot: bool = False, timeout: float = 120) -> dict:
        """Run `lab.ipmi` in the lab (where the BMC listens); {"before": .., "after": ..}."""
        argv = [sys.executable, "-m", "lab.ipmi", self.bmc_address, str(self.bmc_port),
                self.bmc_user, self.bmc_password, action] + (["--netboot"] if netboot else [])
        result = subprocess.run(["ip", "netns", "exec", self.netns, *argv], cwd=PROJECT_DIR,
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            raise RuntimeError(f"{self.name}: IPMI {action} failed: {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def power_on(self, netboot: bool = True) -> dict:
        return self.ipmi("on", netboot=netboot)

    def power_off(self) -> dict:
        return self.ipmi("off")

    def netboot_kernel(self, retries: int = 2, timeout: float = 240) -> None:
        """Power on with PXE and wait until the netbooted kernel runs, power cycling at the BMC
        when the boot loader gives up ("Boot failed": lpxelinux's lwIP now and then stops
        mid-transfer), as an operator would for a machine the region cannot power yet."""
        for attempt in range(retries + 1):
            mark = self.console_size()
            self.ipmi("cycle" if attempt else "on", netboot=True)
            seen = self.wait_for_console(BOOTED_OR_FAILED, timeout, since=mark)
            if seen != BOOT_LOADER_FAILED:
                return
        raise AssertionError(f"{self.name}: the boot loader failed {retries + 1} times")

    def power_state(self) -> str:
        return self.ipmi("query")["after"]

    def running(self) -> bool:
        """True while qemu runs (asked over QMP, without the BMC)."""
        for timeout in (2, 10):  # a busy qemu (TCG on loaded cores) may answer late
            try:
                return QMPClient(self.qmp, timeout=timeout).execute("query-status").get(
                    "status") != "shutdown"
            except QMPUnreachable:
                return False
            except QMPError:
                continue
        return False
