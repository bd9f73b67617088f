"""PXE / iPXE / UEFI HTTP boot: the boot file and options for a client's 60/77/93."""
import struct
from dataclasses import dataclass

from bootsvc.dhcp.packet import (
    OPT_BOOTFILE,
    OPT_CLIENT_ARCH,
    OPT_TFTP_SERVER,
    OPT_USER_CLASS,
    OPT_VENDOR_CLASS,
    OPT_VENDOR_SPECIFIC,
    encode_option,
)

ARCH_BIOS, ARCH_EFI_IA32, ARCH_EFI_BC, ARCH_EFI_X64 = 0, 6, 7, 9
ARCH_EFI_ARM64, ARCH_EFI_X64_HTTP = 11, 16
# The option 93 types we have a loader for; any other is answered without a boot file.
SUPPORTED_ARCHES = frozenset({ARCH_BIOS, ARCH_EFI_BC, ARCH_EFI_X64, ARCH_EFI_ARM64,
                              ARCH_EFI_X64_HTTP})
# PXE vendor options (option 43): discovery control 8 = boot the file named in option 67.
PXE_VENDOR_OPTIONS = b"\x06\x01\x08\xff"


@dataclass(frozen=True)
class BootChoice:
    """What a booting client is told: boot file, vendor class to echo."""

    file: str
    vendor_class: bytes


def client_arch(options: dict[int, bytes]) -> int | None:
    """First architecture type of option 93 (RFC 4578), or None."""
    value = options.get(OPT_CLIENT_ARCH)
    if not value or len(value) < 2:
        return None
    return struct.unpack_from("!H", value)[0]


def firmware(options: dict[int, bytes]) -> str:
    """"bios" or "uefi" from option 93 (the region records it: IPMI's EFI boot flag), else
    "" when the client did not say."""
    arch = client_arch(options)
    if arch is None:
        return ""
    return "bios" if arch == ARCH_BIOS else "uefi"


def unsupported_arch(options: dict[int, bytes]) -> int | None:
    """The option 93 type of a boot client we have no loader for, else None."""
    arch = client_arch(options)
    return arch if arch is not None and arch not in SUPPORTED_ARCHES else None


def is_ipxe(options: dict[int, bytes]) -> bool:
    """iPXE sends user class "iPXE" (raw, or RFC 3004 length-prefixed)."""
    return b"iPXE" in options.get(OPT_USER_CLASS, b"")


def is_boot_client(options: dict[int, bytes]) -> bool:
    vendor = options.get(OPT_VENDOR_CLASS, b"")
    return (vendor.startswith((b"PXEClient", b"HTTPClient")) or OPT_CLIENT_ARCH in options
            or is_ipxe(options))


def choose(options: dict[int, bytes], rack: str, http_port: int,
           bios_loader: str = "pxelinux") -> BootChoice | None:
    """The boot file for a client, or None for a client that is not network booting or whose
    architecture we have no loader for. `bios_loader` is the subnet's choice for BIOS clients."""
    if not is_boot_client(options) or unsupported_arch(options) is not None:
        return None
    http = f"http://{rack}:{http_port}"
    arch = client_arch(options)
    if arch == ARCH_BIOS and bios_loader == "ipxe":
        # As Ironic's iPXE boot: the PXE ROM chainloads undionly.kpxe over TFTP; that iPXE
        # (user class iPXE) then fetches its script, kernel and initrd with its own HTTP stack.
        if is_ipxe(options):
            return BootChoice(f"{http}/ipxe/boot.ipxe", b"PXEClient")
        return BootChoice("undionly.kpxe", b"PXEClient")
    if arch == ARCH_BIOS:
        # As MAAS does: every BIOS client, iPXE ROMs included (qemu's), chainloads lpxelinux.0
        # over TFTP, which reads its per-MAC config and fetches kernel and initrd over HTTP.
        return BootChoice("lpxelinux.0", b"PXEClient")
    if is_ipxe(options):
        # iPXE on EFI (we ship no EFI loader of our own) or without option 93: its own script.
        return BootChoice(f"{http}/ipxe/boot.ipxe", b"PXEClient")
    if arch == ARCH_EFI_X64_HTTP or options.get(OPT_VENDOR_CLASS, b"").startswith(b"HTTPClient"):
        # Not the shim: Debian's signed GRUB 2.06 takes no network settings from an HTTP boot
        # (it drops to its prompt). iPXE does, and then fetches its script as above.
        return BootChoice(f"{http}/snponly.efi", b"HTTPClient")
    if arch in (ARCH_EFI_BC, ARCH_EFI_X64):
        return BootChoice("bootx64.efi", b"PXEClient")
    if arch == ARCH_EFI_ARM64:
        return BootChoice("grubaa64.efi", b"PXEClient")
    return BootChoice("lpxelinux.0", b"PXEClient")  # a PXE client that sent no option 93


def option_bytes(choice: BootChoice, rack: str) -> bytes:
    """Options 60, 66, 67 (and 43 for PXE clients) of a reply."""
    parts = [
        encode_option(OPT_VENDOR_CLASS, choice.vendor_class),
        encode_option(OPT_TFTP_SERVER, rack.encode()),
        encode_option(OPT_BOOTFILE, choice.file.encode()),
    ]
    if choice.vendor_class == b"PXEClient":
        parts.append(encode_option(OPT_VENDOR_SPECIFIC, PXE_VENDOR_OPTIONS))
    return b"".join(parts)
