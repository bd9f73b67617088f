"""The test OS builder (build_test_os): the disk layout on fake packages, then a real build from
Debian packages booted from its disk in qemu, in a network namespace with a fake region; and
write_metal_cfg.sh run by a job in the ephemeral environment against a copy of that disk."""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from nodes.bootimages import builder, cpio, formats, testos
from nodes.bootimages.debs import Package
from nodes.models import BootResource
from tests.lab.helpers import build_boot_images
from tests.netlab import NetLab, unavailable_reason
from tests.processes import skip_or_fail

PACKAGES = [Package("linux-image-6.1.0-9-cloud-amd64", "6.1.1-1"),
            Package("busybox-static", "1:1.35")]
DISK_TOOLS = ("mkfs.fat", "syslinux", "mcopy", "mdir", "sfdisk")
BOOT_FILES = ("initrd.gz", "ldlinux.c32", "ldlinux.sys", "syslinux.cfg", "vmlinuz")
UEFI_FILES = ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grub.cfg", "EFI/BOOT/grubx64.efi")



@pytest.fixture
def disk_tools():
    missing = [tool for tool in DISK_TOOLS if not shutil.which(tool)]
    if missing or not testos.MBR_BIN.is_file():
        skip_or_fail(f"missing {', '.join(missing) or testos.MBR_BIN} "
                     "(apt-get install syslinux syslinux-common mtools dosfstools fdisk)")


# --- reading a disk image back -------------------------------------------------------------

def partition_table(disk: Path) -> list[dict]:
    """The used MBR partition entries of a disk image, parsed here (not by a tool)."""
    with open(disk, "rb") as handle:
        mbr = handle.read(512)
    assert mbr[510:512] == b"\x55\xaa", "no MBR signature"
    entries = []
    for index in range(4):
        entry = mbr[446 + 16 * index:462 + 16 * index]
        start, sectors = struct.unpack("<II", entry[8:16])
        if entry[4]:
            entries.append({"number": index + 1, "boot": entry[0], "type": entry[4],
                            "start": start, "sectors": sectors})
    return entries


def partition_files(disk: Path, offset: int, directory: str = "") -> list[str]:
    """Paths of the files of the FAT partition at offset (bytes), through mtools."""
    listing = subprocess.run(["mdir", "-a", "-b", "-i", f"{disk}@@{offset}", f"::{directory}"],
                             capture_output=True, text=True, check=True).stdout
    names = []
    for line in listing.split():
        name = line.removeprefix("::/")
        names += partition_files(disk, offset, name) if name.endswith("/") else [name]
    return sorted(names)


def partition_file(disk: Path, offset: int, name: str) -> bytes:
    return subprocess.run(["mcopy", "-n", "-i", f"{disk}@@{offset}", f"::{name}", "-"],
                          capture_output=True, check=True).stdout


def check_layout(disk: Path) -> tuple[int, dict]:
    """Assert the test OS layout; the partition's offset and its files' contents."""
    table = partition_table(disk)
    assert len(table) == 1
    part = table[0]
    assert (part["boot"], part["type"], part["start"]) == (0x80, 0x0C, testos.PART_START)
    assert (part["start"] + part["sectors"]) * 512 == disk.stat().st_size
    with open(disk, "rb") as handle:
        assert handle.read(440) == testos.MBR_BIN.read_bytes()  # syslinux's MBR boot code
        handle.seek(part["start"] * 512)
        vbr = handle.read(512)
    assert vbr[3:11] == b"SYSLINUX" and vbr[82:90] == b"FAT32   "
    offset = part["start"] * 512
    names = partition_files(disk, offset)
    assert set(BOOT_FILES) <= set(names)
    files = {name: partition_file(disk, offset, name) for name in names}
    return offset, files


def initrd_entries(initrd: bytes) -> dict[str, dict]:
    return {e["name"]: e for e in cpio.read_newc(gzip.decompress(initrd))}


# --- the build on fake packages (real mkfs.fat, syslinux, sfdisk; no apt, no root) ----------

@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Packages resolve and download to nothing; make_initrd writes a small real initrd."""
    def fake_make_initrd(debs, work, init_text, initrd_out, progress):
        busybox = work / "bb/bin/busybox"
        busybox.parent.mkdir(parents=True)
        busybox.write_bytes(b"\x7fELF fake busybox")
        builder.stage_initramfs(work / "root", work / "bb", init_text)
        cpio.write_initrd(work / "root", initrd_out)
        (work / "vmlinuz").write_bytes(b"fake kernel" * 1000)
        return work / "vmlinuz", "6.1.0-9-cloud-amd64", 0

    monkeypatch.setattr(builder, "resolve_packages", lambda flavour: PACKAGES)
    monkeypatch.setattr(testos, "download", lambda package, cache, progress: Path("/x.deb"))
    monkeypatch.setattr(builder, "make_initrd", fake_make_initrd)
    monkeypatch.setattr(testos, "loader_packages", lambda: [])

    def fake_uefi_files(debs, work):
        work.mkdir(parents=True, exist_ok=True)
        files = {}
        for target, _, _ in testos.DISK_LOADERS:
            files[target] = work / Path(target).name
            files[target].write_bytes(b"MZ fake " + target.encode())
        return files

    monkeypatch.setattr(testos, "uefi_files", fake_uefi_files)


def test_disk_is_mbr_with_one_bootable_fat32_partition_holding_loader_kernel_and_init(
        tmp_path, disk_tools, fake_packages):
    lines = []
    result = testos.build(tmp_path / "out", cache_dir=tmp_path / "cache", progress=lines.append)
    assert result.built
    raw = result.images[formats.RAW]
    assert raw == tmp_path / "out/images/deployable/amd64/generic/1/root.img"
    _, files = check_layout(raw)
    assert sorted(files) == sorted(BOOT_FILES + UEFI_FILES)
    assert b"LINUX /vmlinuz" in files["syslinux.cfg"] and b"console=ttyS0" in files["syslinux.cfg"]
    # UEFI: shim on the removable path, GRUB beside it, and the config that GRUB reads there.
    assert files["EFI/BOOT/BOOTX64.EFI"] == b"MZ fake EFI/BOOT/BOOTX64.EFI"
    assert b"linux /vmlinuz console=tty0 console=ttyS0" in files["EFI/BOOT/grub.cfg"]
    assert files["vmlinuz"] == b"fake kernel" * 1000
    entries = initrd_entries(files["initrd.gz"])
    assert entries["init"]["data"].startswith(b"#!/bin/busybox sh")
    assert b"SAY_PREFIX=metal-os" in entries["init"]["data"]
    assert b"@BUILD_ID@" not in entries["init"]["data"]
    assert entries["lib/metal/common.sh"]["data"] == (builder.HERE / "common.sh").read_bytes()
    assert any(line.startswith("installing syslinux") for line in lines)


def test_compressed_images_hold_the_same_disk_and_sums_match(tmp_path, disk_tools,
                                                             fake_packages):
    result = testos.build(tmp_path / "out", cache_dir=tmp_path / "cache", progress=lambda _: 0)
    raw = result.images[formats.RAW].read_bytes()
    assert gzip.decompress(result.images[formats.GZ].read_bytes()) == raw
    if shutil.which("zstd"):
        unpacked = subprocess.run(["zstd", "-d", "-c", str(result.images[formats.ZST])],
                                  capture_output=True, check=True).stdout
        assert unpacked == raw
    for fmt, path in result.images.items():
        assert formats.check_content(fmt, path.read_bytes()[:formats.HEAD_SIZE]) is None
        assert result.sha256[fmt] == testos.sha256_of(path)
    sums = (result.images[formats.RAW].parent / "SHA256SUMS").read_text()
    assert f"{result.sha256[formats.RAW]}  root.img\n" in sums
    assert f"{result.sha256[formats.TGZ]}  root.tar.gz\n" in sums


def test_root_tarball_holds_the_same_kernel_and_initramfs_as_debian_lays_them_out(
        tmp_path, disk_tools, fake_packages):
    result = testos.build(tmp_path / "out", cache_dir=tmp_path / "cache", progress=lambda _: 0)
    _, files = check_layout(result.images[formats.RAW])
    with tarfile.open(result.images[formats.TGZ]) as tar:
        members = {m.name: m for m in tar.getmembers()}
        version = next(n for n in members if n.startswith("./boot/vmlinuz-"))[15:]
        assert tar.extractfile(f"./boot/vmlinuz-{version}").read() == files["vmlinuz"]
        assert tar.extractfile(f"./boot/initrd.img-{version}").read() == files["initrd.gz"]
        assert b"ID=metal-test\n" in tar.extractfile("./etc/os-release").read()
    assert members["./vmlinuz"].linkname == f"boot/vmlinuz-{version}"
    assert all((m.uid, m.gid, m.mtime) == (0, 0, 0) for m in members.values())


def test_second_build_with_nothing_changed_does_nothing(tmp_path, disk_tools, fake_packages,
                                                        monkeypatch):
    first = testos.build(tmp_path / "out", cache_dir=tmp_path / "cache", progress=lambda _: 0)
    mtimes = {fmt: p.stat().st_mtime_ns for fmt, p in first.images.items()}
    monkeypatch.setattr(testos, "download", pytest.fail)
    lines = []
    again = testos.build(tmp_path / "out", cache_dir=tmp_path / "cache", progress=lines.append)
    assert not again.built and any(line.startswith("up to date") for line in lines)
    assert again.sha256 == first.sha256
    assert {fmt: p.stat().st_mtime_ns for fmt, p in again.images.items()} == mtimes


def test_stamp_follows_the_test_os_init_and_differs_from_the_ephemeral_one(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(testos, "host_versions", lambda: {"syslinux": "6.04"})
    stamp = testos.make_stamp(PACKAGES, "cloud", tmp_path, ["raw", "gz"])
    assert stamp["templates_sha256"] != builder.make_stamp(PACKAGES, "cloud",
                                                           tmp_path)["templates_sha256"]
    init = tmp_path / "init.sh"
    init.write_text(testos.INIT_TEMPLATE.read_text() + "# changed\n")
    monkeypatch.setattr(testos, "INIT_TEMPLATE", init)
    assert testos.make_stamp(PACKAGES, "cloud", tmp_path, ["raw", "gz"]) != stamp
    monkeypatch.setattr(testos, "host_versions", lambda: {"syslinux": "6.05"})
    assert testos.make_stamp(PACKAGES, "cloud", tmp_path, ["raw", "gz"])["host_packages"] == {
        "syslinux": "6.05"}


def test_every_initramfs_gets_the_shared_scripts_and_their_changes_rebuild(tmp_path,
                                                                         monkeypatch):
    (tmp_path / "bb/bin").mkdir(parents=True)
    (tmp_path / "bb/bin/busybox").write_bytes(b"\x7fELF")
    builder.stage_initramfs(tmp_path / "root", tmp_path / "bb", "#!/bin/busybox sh\n")
    common = tmp_path / "root/lib/metal/common.sh"
    assert common.read_bytes() == (builder.HERE / "common.sh").read_bytes()
    assert (tmp_path / "root/usr/bin/write_metal_cfg.sh").stat().st_mode & 0o111
    before = builder.template_hash()
    changed = tmp_path / "common.sh"
    changed.write_text(common.read_text() + "# changed\n")
    monkeypatch.setattr(builder, "SHARED_SCRIPTS", ((changed, "lib/metal/common.sh", 0o644),))
    assert builder.template_hash() != before


def test_partition_is_at_least_40_mib_and_grows_with_its_files(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"x")
    with open(big, "wb") as handle:
        handle.truncate(100 * testos.MIB)
    assert testos.partition_size([small]) == 40 * testos.MIB
    assert testos.partition_size([big]) >= 118 * testos.MIB


def test_missing_tools_are_named_with_their_packages(monkeypatch):
    monkeypatch.setattr(testos.shutil, "which", lambda tool: None)
    with pytest.raises(builder.BuildError, match="apt-get install .*dosfstools.*mtools"):
        testos.check_tools()


def test_shell_scripts_are_valid():
    shell = shutil.which("busybox")
    if not shell:
        skip_or_fail("busybox is not installed")
    for name in ("testos_init.sh", "common.sh", "write_metal_cfg.sh", "init.sh"):
        done = subprocess.run([shell, "sh", "-n", str(builder.HERE / name)], capture_output=True)
        assert done.returncode == 0, (name, done.stderr)


def test_write_metal_cfg_refuses_bad_arguments(tmp_path):
    shell = shutil.which("busybox")
    if not shell:
        skip_or_fail("busybox is not installed")
    script = str(builder.HERE / "write_metal_cfg.sh")
    for args in ([], ["/dev/null", "ftp://x/", "id", "tok"], ["/dev/null", "http://r/", "a b", "t"],
                 [str(tmp_path), "http://r/", "id", "tok"]):
        done = subprocess.run([shell, "sh", script, *args], capture_output=True, text=True)
        assert done.returncode == 1 and "metal: write_metal_cfg:" in done.stderr, args


@pytest.mark.django_db
def test_command_registers_the_images_as_a_deployable_resource(settings, tmp_path, monkeypatch):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "resources")
    calls = []

    def fake_build(output_dir, flavour, cache_dir, force, progress):
        calls.append((output_dir, flavour, cache_dir, force))
        images = testos.outputs(output_dir, zstd=True)
        images[formats.RAW].parent.mkdir(parents=True, exist_ok=True)
        raw = b"\0" * 510 + b"\x55\xaa" + b"\0" * 512
        images[formats.RAW].write_bytes(raw)
        images[formats.GZ].write_bytes(gzip.compress(raw))
        images[formats.ZST].write_bytes(formats.ZSTD_MAGIC + b"frame")
        testos.make_root_tarball(images[formats.TGZ], images[formats.RAW], images[formats.RAW],
                                 "6.1.0-1-cloud-amd64")
        return testos.TestOSResult(True, images)

    monkeypatch.setattr(testos, "build", fake_build)
    for _ in range(2):  # idempotent
        out = io.StringIO()
        call_command("build_test_os", stdout=out)
    assert calls[0] == (tmp_path / "resources", "cloud",
                        Path(settings.VAR_DIR) / "image-build", False)
    assert "registered boot resource metal-test/1 (raw, gz, zst, tgz)" in out.getvalue()
    resource = BootResource.objects.get()
    assert (resource.os, resource.series, resource.architecture, resource.kind) == (
        "metal-test", "1", "amd64/generic", "deployable")
    base = "images/deployable/amd64/generic/1/"
    assert sorted(resource.files.values_list("path", "filetype", "format")) == [
        (base + "root.img", "root-image", "raw"), (base + "root.img.gz", "root-image", "gz"),
        (base + "root.img.zst", "root-image", "zst"), (base + "root.tar.gz", "root-tgz", "tgz")]


# --- integration: a real build, booted from its disk in qemu -----------------------------------

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
TOOLS = ("apt-get", "apt-cache", "dpkg", "dpkg-deb", "depmod", "qemu-system-x86_64", "busybox",
         *DISK_TOOLS)
BOOT_TIMEOUT = 240
NET, SERVER, PORT = "10.98.0", "10.98.0.1", 8080
REGION = f"http://{SERVER}:{PORT}/"
SYSTEM_ID, TOKEN = "sys-tos123", "tok-Xy9.secret"
USER_DATA = "#!/bin/sh\necho MARKER-123\n"


def missing_prerequisite() -> str:
    """Why the integration tests cannot run here, or ''."""
    reason = unavailable_reason()
    if reason:
        return reason
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    return f"missing tools: {', '.join(missing)}" if missing else ""


@pytest.fixture(scope="module")
def built_testos(tmp_path_factory):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    policy = subprocess.run(["apt-cache", "policy", "linux-image-cloud-amd64"],
                            capture_output=True, text=True).stdout
    if "Candidate: (none)" in policy or "Candidate:" not in policy:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    out = tmp_path_factory.mktemp("testos")
    log = io.StringIO()
    started = time.monotonic()
    call_command("build_test_os", "--output-dir", str(out), "--cache-dir", str(CACHE_DIR),
                 "--force", stdout=log)
    return out, log.getvalue(), time.monotonic() - started


@pytest.mark.integration
def test_real_build_shows_progress_has_the_layout_and_a_second_run_does_nothing(built_testos):
    out, log, _ = built_testos
    for step in ("resolving packages", "modules, depmod done", "making the FAT32 boot partition",
                 "installing syslinux", "writing the MBR", "done:"):
        assert step in log
    raw = testos.image_dir(out) / "root.img"
    _, files = check_layout(raw)
    assert files["vmlinuz"][0x202:0x206] == b"HdrS"  # a bzImage
    for loader in ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi"):  # Debian's signed PE files
        assert files[loader][:2] == b"MZ" and b"Debian" in files[loader], loader
    entries = initrd_entries(files["initrd.gz"])
    assert b"SAY_PREFIX=metal-os" in entries["init"]["data"]
    assert any(name.endswith("/virtio_net.ko") for name in entries)
    assert any(name.endswith("/vfat.ko") for name in entries)
    again = io.StringIO()
    call_command("build_test_os", "--output-dir", str(out), "--cache-dir", str(CACHE_DIR),
                 stdout=again)
    assert "up to date" in again.getvalue()


# The fake region: records every request (method, path, Authorization, body) as a JSON line;
# serves the user data, takes the deployed report, and serves a job file when there is one.
FAKE_REGION = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
address, port, log, user_data, job = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]

class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        length = int(self.headers.get("Content-Length") or 0)
        request = self.rfile.read(length).decode() if length else ""
        with open(log, "a") as out:
            out.write(json.dumps({"method": self.command, "path": self.path, "body": request,
                                  "authorization": self.headers.get("Authorization")}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/api/v1/metadata/user-data/":
            return self.answer(200, open(user_data, "rb").read())
        if self.path.startswith("/api/v1/metadata/job/"):
            return self.answer(200, open(job, "rb").read())
        self.answer(404, b"not found")

    def do_POST(self):
        found = self.path == "/api/v1/metadata/deployed/"
        self.answer(200 if found else 404, b"ok" if found else b"not found")

ThreadingHTTPServer((address, port), Handler).serve_forever()
'''


@pytest.fixture
def region_net(tmp_path):
    """A namespace holding br0 (the fake region and udhcpd on it) and tap0 for the VM."""
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    with NetLab("tos") as lab:
        ns = lab.netns("net")
        lab.bridge(ns, "br0")
        lab.tap(ns, "tap0", "br0")
        lab.addr(ns, "br0", f"{SERVER}/24")
        conf = tmp_path / "udhcpd.conf"
        (tmp_path / "leases").write_bytes(b"")
        conf.write_text(f"start {NET}.100\nend {NET}.150\ninterface br0\n"
                        f"lease_file {tmp_path}/leases\npidfile {tmp_path}/udhcpd.pid\n"
                        "option subnet 255.255.255.0\noption lease 3600\n")
        lab.popen(ns, ["busybox", "udhcpd", "-f", str(conf)], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
        (tmp_path / "user-data").write_text(USER_DATA)
        (tmp_path / "job").write_text("#!/bin/sh\nexit 0\n")
        script = tmp_path / "region.py"
        script.write_text(FAKE_REGION)
        lab.popen(ns, [sys.executable, str(script), SERVER, str(PORT),
                       str(tmp_path / "requests.log"), str(tmp_path / "user-data"),
                       str(tmp_path / "job")], stderr=subprocess.DEVNULL)
        wait_for_port(lab, ns)
        yield lab, ns


def wait_for_port(lab: NetLab, ns: str) -> None:
    probe = f"import socket; socket.create_connection(({SERVER!r}, {PORT}), 1).close()"
    for _ in range(50):
        if lab.run(ns, [sys.executable, "-c", probe]).returncode == 0:
            return
        time.sleep(0.2)
    pytest.fail("the fake region did not start")


def region_requests(tmp_path: Path) -> list[dict]:
    log = tmp_path / "requests.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run_vm(lab: NetLab, ns: str, args: list[str], console: Path, until: list[str],
           exits: bool) -> str:
    """Run qemu (TCG, 384 MiB, virtio NIC on tap0) in ns until every pattern is on the serial
    console (or it exits); the console text. Stopped after unless `exits`."""
    cmd = ["qemu-system-x86_64", "-machine", "accel=tcg", "-m", "384", "-nodefaults",
           "-display", "none", "-no-reboot", "-serial", f"file:{console}", "-monitor", "none",
           "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
           "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:98:00:10,romfile=", *args]
    proc = lab.popen(ns, cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    deadline, text = time.monotonic() + BOOT_TIMEOUT, ""
    try:
        while time.monotonic() < deadline:
            text = console.read_text(errors="replace") if console.exists() else ""
            if all(p in text for p in until) or proc.poll() is not None:
                break
            time.sleep(1)
        if exits:
            proc.wait(timeout=60)
    finally:
        lab.kill(proc)
    return console.read_text(errors="replace") if console.exists() else text


def disk_copy(built_testos, tmp_path: Path) -> tuple[Path, int]:
    """A copy of the built root.img and the byte offset of its boot partition."""
    copy = tmp_path / "disk.img"
    shutil.copyfile(testos.image_dir(built_testos[0]) / "root.img", copy)
    return copy, partition_table(copy)[0]["start"] * 512


@pytest.mark.integration
def test_deployed_image_boots_from_disk_runs_user_data_and_reports(built_testos, region_net,
                                                                   tmp_path):
    lab, ns = region_net
    disk, offset = disk_copy(built_testos, tmp_path)
    cfg = tmp_path / "metal.cfg"
    cfg.write_text(f"region={REGION}\nsystem_id={SYSTEM_ID}\ntoken={TOKEN}\n")
    subprocess.run(["mcopy", "-i", f"{disk}@@{offset}", str(cfg), "::metal.cfg"], check=True)
    started = time.monotonic()
    text = run_vm(lab, ns, ["-drive", f"file={disk},if=virtio,format=raw", "-boot", "c"],
                  tmp_path / "console.log", ["metal-os: deployed OS booted"], exits=False)
    print(f"boot from disk to 'deployed OS booted': {time.monotonic() - started:.0f} s")
    for line in ("SYSLINUX", "metal-os: init started", "metal-os: loaded by modalias: virtio_net",
                 f"metal-os: metal.cfg on /dev/vda1: region={REGION} system_id={SYSTEM_ID}",
                 f"metal-os: dhcp address on eth0: {NET}.", "metal-os: running user data",
                 "metal-os: user data: MARKER-123", "metal-os: user data finished (exit 0)",
                 "metal-os: reported deployed",
                 f"metal-os: deployed OS booted (system_id={SYSTEM_ID})"):
        assert line in text, f"{line!r} not on the console:\n{text[-5000:]}"
    assert TOKEN not in text
    requests = region_requests(tmp_path)
    assert [(r["method"], r["path"]) for r in requests] == [
        ("GET", "/api/v1/metadata/user-data/"), ("POST", "/api/v1/metadata/deployed/")]
    assert all(r["authorization"] == f"Machine {SYSTEM_ID}:{TOKEN}" for r in requests)
    assert requests[1]["body"].startswith("message=deployed%20OS%20booted&user_data_exit=0&")
    assert "&user_data_output=%4d%41%52%4b%45%52%2d%31%32%33%0a" in requests[1]["body"]
    assert b"reported" in partition_file(disk, offset, "metal.done")
    # Later boots: metal.done is there, so no user data and no second report.
    text = run_vm(lab, ns, ["-drive", f"file={disk},if=virtio,format=raw", "-boot", "c"],
                  tmp_path / "console2.log", ["metal-os: deployed OS booted"], exits=False)
    assert "metal-os: first boot already done (metal.done): no user data, no report" in text
    assert f"metal-os: deployed OS booted (system_id={SYSTEM_ID})" in text
    assert len(region_requests(tmp_path)) == 2


WRITE_CFG_JOB = f"""#!/bin/sh
write_metal_cfg.sh /dev/vda {REGION.rstrip('/')} {SYSTEM_ID} {TOKEN}
echo "metal: write_metal_cfg exit $?"
sync
poweroff -f
"""


@pytest.mark.integration
def test_write_metal_cfg_in_the_ephemeral_environment(built_testos, region_net, tmp_path):
    """What the deploy runner does after writing the image: the ephemeral environment's job
    runs write_metal_cfg.sh against the disk; metal.cfg is then on the image's boot partition."""
    lab, ns = region_net
    disk, offset = disk_copy(built_testos, tmp_path)
    (tmp_path / "job").write_text(WRITE_CFG_JOB)
    ephemeral, _ = build_boot_images(tmp_path / "ephemeral")
    append = (f"console=ttyS0 metal.region={REGION} metal.system_id={SYSTEM_ID} "
              f"metal.token={TOKEN} metal.poweroff=1")
    text = run_vm(lab, ns, ["-kernel", str(ephemeral.kernel), "-initrd", str(ephemeral.initrd),
                            "-append", append, "-drive", f"file={disk},if=virtio,format=raw"],
                  tmp_path / "console.log", ["metal: write_metal_cfg exit"], exits=True)
    assert "metal: write_metal_cfg: metal.cfg written on /dev/vda1" in text, text[-5000:]
    assert "metal: write_metal_cfg exit 0" in text
    assert partition_file(disk, offset, "metal.cfg").decode() == (
        f"region={REGION}\nsystem_id={SYSTEM_ID}\ntoken={TOKEN}\n")
    check_layout(disk)  # the rest of the disk is as built
