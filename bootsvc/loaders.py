"""Boot loaders: the region's imported ones first, else seeded from the rack's own packages.

Where a loader a client asks for (TFTP or HTTP, under the name DHCP gives) comes from, in order:
1. The region's import (the `bootloader/uefi/amd64` boot resource: shim and GRUB unpacked from
   Debian's shim-signed and grub-efi-amd64-signed by the image import), synced by the image cache
   into IMPORTED_DIR of the cache: `bootx64.efi` and `shimx64.efi` are its shim, `grubx64.efi` its
   GRUB, beside it as shim expects (`imported_path`).
2. Fallback, while the region has imported none: bootsvc copies each loader it knows from where
   its Debian package installs it on the rack (under `BOOTSVC_LOADER_ROOT`, default `/`) into the
   cache root when the cache has none, at start, every `BOOTSVC_LOADER_INTERVAL` seconds and on a
   TFTP or HTTP miss of that name, so a package installed later is served without a restart.
   A loader the region imported is never seeded, and is served even when a seeded copy exists.
A miss that stays a miss is a rate-limited `boot_file_missing` event (naming the package) and a
rack-log warning; the loaders missing are written to a status file that rackd reports in its
heartbeat (the rack is then degraded).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("bootsvc.loaders")
STATUS_NAME = "bootsvc-status.json"
REPEAT_AFTER = 60.0  # seconds: one miss event per client and file in this window
ASKED_FOR = 3600.0  # seconds an optional loader a client asked for counts as expected
# Names boot loaders probe for and may well not find: never a missing boot file.
# Shim looks beside itself for optional revocation lists and certificates (SBAT, SKU) and
# boots on without them.
PROBES = ("pxelinux.cfg/", "grub/", "autoexec.ipxe", "revocations_", "shim_certificate")
MAX_NAME = 512


@dataclass(frozen=True)
class Loader:
    """A loader served under `name`, installed at `source` by the Debian `package`."""

    name: str
    source: str
    package: str
    required: bool = False  # every BIOS client asks for it: the rack is degraded without it


LOADERS = {loader.name: loader for loader in (
    Loader("lpxelinux.0", "/usr/lib/PXELINUX/lpxelinux.0", "pxelinux", required=True),
    Loader("ldlinux.c32", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common",
           required=True),
    Loader("pxelinux.0", "/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    Loader("bootx64.efi", "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
    Loader("shimx64.efi", "/usr/lib/shim/shimx64.efi.signed", "shim-signed"),
    Loader("grubx64.efi", "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
           "grub-efi-amd64-signed"),
    Loader("grubaa64.efi", "/usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed",
           "grub-efi-arm64-signed"),
    # BIOS clients of a subnet that boots iPXE instead of PXELINUX.
    Loader("undionly.kpxe", "/usr/lib/ipxe/undionly.kpxe", "ipxe"),
    # UEFI HTTP boot: iPXE on the firmware's network driver (unsigned: Secure Boot off).
    Loader("snponly.efi", "/usr/lib/ipxe/snponly.efi", "ipxe"),
)}
# Where the image cache puts the region's imported loaders (nodes.bootimages.loaders.LOADER_DIR),
# and the file there each name DHCP gives is served from.
IMPORTED_DIR = "images/bootloader/uefi/amd64"
IMPORTED = {"bootx64.efi": "shimx64.efi", "shimx64.efi": "shimx64.efi",
            "grubx64.efi": "grubx64.efi"}
DEBIAN_LOADERS = {name: loader.source for name, loader in LOADERS.items() if loader.required}


def loader_root() -> Path:
    """Where the packages' files are looked for (BOOTSVC_LOADER_ROOT, default /)."""
    return Path(os.environ.get("BOOTSVC_LOADER_ROOT") or "/")


def status_path(rack_dir: Path) -> Path:
    """The status file bootsvc writes and rackd reads, in the rack's state dir."""
    return Path(rack_dir) / STATUS_NAME


def imported_path(cache_dir: Path | str, name: str) -> str | None:
    """The real path of the region's imported loader served as `name`, if the cache has it."""
    if name not in IMPORTED:
        return None
    return resolve_file(str(cache_dir), os.path.join(IMPORTED_DIR, IMPORTED[name]))


def resolve_file(root: str, name: str) -> str | None:
    """The real path of `name` under `root` if it is a regular file that stays inside it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, name))
    if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
        return None
    return real


def present(cache_dir: Path, name: str) -> bool:
    """Whether the cache serves `name`: imported from the region, or seeded."""
    return imported_path(cache_dir, name) is not None or (Path(cache_dir) / name).exists()


def seed_loaders(cache_dir: Path, root: Path | None = None,
                 names: list[str] | None = None) -> list[str]:
    """Copy each known loader that is installed and not in the cache yet (imported or seeded);
    the names copied."""
    cache_dir, root = Path(cache_dir), loader_root() if root is None else Path(root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    seeded = []
    for name in LOADERS if names is None else names:
        source = root / LOADERS[name].source.lstrip("/")
        if not present(cache_dir, name) and source.is_file():
            _copy_into(source, cache_dir, name)
            log.info("boot loader %s seeded from %s", name, source)
            seeded.append(name)
    return seeded


def _copy_into(source: Path, cache_dir: Path, name: str) -> None:
    """Copy under a temporary name, then rename: a transfer never sees half a loader."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=cache_dir)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache_dir / name)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


def missing_reason(missing: list[Loader]) -> str:
    """One line naming each missing loader and the package that installs it ("" if none)."""
    if not missing:
        return ""
    names = ", ".join(f"{loader.name} ({loader.package})" for loader in missing)
    packages = " ".join(dict.fromkeys(loader.package for loader in missing))
    return f"boot loaders missing: {names}; apt-get install {packages}"


def read_status_reason(path: Path) -> str:
    """The reason in bootsvc's status file ("" when it has none or cannot be read)."""
    try:
        reason = json.loads(Path(path).read_text()).get("reason", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return reason if isinstance(reason, str) else ""


def miss_description(protocol: str, name: str, client: str) -> str:
    """What a missing boot file event says: the file, who asked, the package if known."""
    text = f"{protocol} {name} requested by {client}: not on this rack"
    loader = LOADERS.get(name)
    if loader is not None:
        text += f"; install the Debian package {loader.package} on the rack"
    return text


class LoaderWatch:
    """Keeps the cache's loaders seeded, reports misses and writes the rack's loader status."""

    def __init__(self, cache_dir: Path, emit: Callable[[dict], None], status_file: Path,
                 root: Path | None = None, repeat_after: float = REPEAT_AFTER,
                 clock: Callable[[], float] = time.monotonic):
        self.cache_dir, self.emit, self.status_file = Path(cache_dir), emit, Path(status_file)
        self.root, self.repeat_after, self.clock = root, repeat_after, clock
        self._asked: dict[str, float] = {}
        self._reported: dict[tuple[str, str], float] = {}
        self._written: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Seed what is installed now and rewrite the status file (start, then periodically)."""
        seed_loaders(self.cache_dir, self.root)
        self.write_status()

    async def run(self, interval: float | None = None) -> None:
        """Refresh every `interval` seconds (BOOTSVC_LOADER_INTERVAL, default 30)."""
        interval = max(interval or float(os.environ.get("BOOTSVC_LOADER_INTERVAL") or 30), 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.refresh)
            except OSError as exc:
                log.warning("boot loaders not refreshed: %s", exc)

    def watch(self, *servers) -> None:
        """Route the misses of these TFTP/HTTP servers (None for one not started) here."""
        for server in servers:
            if server is not None:
                server.on_miss = self.on_miss

    def on_miss(self, name: str, client: str, protocol: str) -> bool:
        """A request for `name` found nothing: True if re-seeding put it in place, else report."""
        if name in LOADERS:
            with self._lock:
                self._asked[name] = self.clock()
            try:
                seeded = seed_loaders(self.cache_dir, self.root, [name])
            except OSError as exc:
                log.warning("boot loader %s not seeded: %s", name, exc)
                seeded = []
            self.write_status()
            if seeded:
                return True
        if not name.startswith(PROBES) and self._first_in_window(client, name):
            self._report(name, client, protocol)
        return False

    def missing(self) -> list[Loader]:
        """Loaders not in the cache that are required, or that a client asked for lately."""
        now = self.clock()
        with self._lock:
            asked = {name for name, at in self._asked.items() if now - at < ASKED_FOR}
        return [loader for name, loader in LOADERS.items()
                if (loader.required or name in asked) and not present(self.cache_dir, name)]

    def write_status(self) -> None:
        """Write {missing, reason} for rackd when it changed (atomically)."""
        missing = self.missing()
        text = json.dumps({"missing": [{"name": loader.name, "package": loader.package}
                                       for loader in missing],
                           "reason": missing_reason(missing)})
        with self._lock:
            if text == self._written:
                return
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_file.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.status_file)
            self._written = text
        if missing:
            log.warning("%s", missing_reason(missing))

    def _first_in_window(self, client: str, name: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._reported) > 10_000:
                self._reported = {key: at for key, at in self._reported.items()
                                  if now - at < self.repeat_after}
            last = self._reported.get((client, name))
            if last is not None and now - last < self.repeat_after:
                return False
            self._reported[(client, name)] = now
            return True

    def _report(self, name: str, client: str, protocol: str) -> None:
        name = name[:MAX_NAME]  # a name from the network: the region takes paths up to 1024
        description = miss_description(protocol, name, client)
        log.warning("%s", description)
        self.emit({"type": "boot_file_missing", "path": name, "client": client,
                   "error": "file not found", "time": time.time(),
                   "description": description})
