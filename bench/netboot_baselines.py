"""The netboot bench's baseline stack: dnsmasq (DHCP + TFTP) and nginx, serving the same boot
loaders, kernel, initrd and kernel command line as ours.

BIOS: Debian's lpxelinux.0 + ldlinux.c32 and a pxelinux.cfg/default that fetches kernel and
initrd from nginx on RACK:8080. UEFI: the same shim (as bootx64.efi) and signed network GRUB
(grubx64.efi beside it) that bootsvc serves, and a grub/grub.cfg that loads kernel and initrd
over TFTP from dnsmasq, as ours does from bootsvc: Debian 12's signed grubnetx64.efi has no http
module (`(http,HOST)/linux` fails with "disk `http,HOST' not found") and Secure Boot refuses
modules loaded from outside the signed image, so there is no nginx in the UEFI baseline.
"""
import shutil
import subprocess
import time
from pathlib import Path

from bootsvc.loaders import LOADERS, imported_path

NGINX = """daemon off; user root; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{}}
http {{ access_log off; sendfile on; tcp_nopush on;
  server {{ {listen} root {dir}/www; }} }}
"""
GRUB_CFG = """set default="0"
set timeout=0
menuentry "commission" {{
    echo "Booting commission from ($root)"
    linux /linux {params}
    initrd /initrd.gz
}}
"""
# The file DHCP names as the boot file, per firmware.
BOOT_FILE = {"bios": "lpxelinux.0", "uefi-secureboot": "bootx64.efi"}


def uefi_loader(cache: Path, name: str) -> Path:
    """Where bootsvc would serve `name` from: the region's import, a copy it seeded into the
    cache, else the Debian package's file (what bootsvc seeds from)."""
    imported = imported_path(cache, name)
    if imported:
        return Path(imported)
    seeded = cache / name
    return seeded if seeded.is_file() else Path(LOADERS[name].source)


def bios_tftp(tftp: Path, http: str, params: str) -> None:
    """lpxelinux.0, ldlinux.c32 and pxelinux.cfg/default, as MAAS-less PXE setups do."""
    (tftp / "pxelinux.cfg").mkdir(parents=True)
    shutil.copy(LOADERS["lpxelinux.0"].source, tftp)
    shutil.copy(LOADERS["ldlinux.c32"].source, tftp)
    (tftp / "pxelinux.cfg" / "default").write_text(
        f"DEFAULT boot\nLABEL boot\n  KERNEL {http}/linux\n  INITRD {http}/initrd.gz\n"
        f"  APPEND {params}\n")


def uefi_tftp(tftp: Path, cache: Path, params: str) -> None:
    """shim as bootx64.efi, GRUB as grubx64.efi (shim loads it from beside itself) and
    grub/grub.cfg (the signed GRUB's prefix is /grub on the server it came from)."""
    (tftp / "grub").mkdir(parents=True)
    for name in ("bootx64.efi", "grubx64.efi"):
        shutil.copy(uefi_loader(cache, name), tftp / name)
    (tftp / "grub" / "grub.cfg").write_text(GRUB_CFG.format(params=params))


def baseline_files(var: Path, cache: Path, rack: str, params: str, firmware: str) -> Path:
    """The TFTP root for the firmware with the kernel and initrd the rack's cache holds (the
    image's kernel is Debian's signed build, which Secure Boot needs): under nginx's root and
    its nginx.conf for BIOS, in the TFTP root for UEFI."""
    tftp = var / "tftp"
    tftp.mkdir()
    images = var / "www" if firmware == "bios" else tftp
    images.mkdir(exist_ok=True)
    for name in ("linux", "initrd.gz"):
        shutil.copy(cache / "images/ephemeral/amd64" / name, images / name)
    if firmware == "bios":
        bios_tftp(tftp, f"http://{rack}:8080", params)
        (var / "nginx.conf").write_text(NGINX.format(dir=var, listen=f"listen {rack}:8080;"))
    else:
        uefi_tftp(tftp, cache, params)
    return tftp


def start_baseline(bench, var: Path, tftp: Path, firmware: str) -> list[subprocess.Popen]:
    """dnsmasq (DHCP, TFTP) and, for BIOS, nginx in the rack's namespace."""
    dnsmasq = bench.start("rack", [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0",
        "--bind-interfaces", "--dhcp-range=10.99.0.100,10.99.0.199,12h", "--no-ping",
        f"--dhcp-boot={BOOT_FILE[firmware]}", "--enable-tftp", f"--tftp-root={tftp}",
        f"--dhcp-leasefile={var}/dnsmasq.leases", f"--pid-file={var}/dnsmasq.pid",
        "--log-dhcp"], "dnsmasq.log")
    procs = [dnsmasq]
    if firmware == "bios":
        procs.append(bench.start("rack", ["nginx", "-c", str(var / "nginx.conf"), "-p",
                                          str(var)], "nginx.log"))
    time.sleep(1.5)
    return procs
