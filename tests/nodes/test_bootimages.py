"""The ephemeral boot image builder: pure parts on fake trees, then a real build booted in qemu."""
import gzip
import io
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from nodes.bootimages import builder, cpio, debs, loaders
from nodes.bootimages.builder import Package
from nodes.models import BootImport, BootResourceFile
from tests.nodes.bootimport_fakes import fake_fetch_loaders
from tests.processes import skip_or_fail

FAKE_DEP = """\
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/wireless/iwl.ko: kernel/net/wireless/cfg80211.ko
kernel/sound/snd.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko
kernel/fs/efivarfs/efivarfs.ko:
kernel/fs/nfs/nfs.ko: kernel/net/sunrpc/sunrpc.ko
kernel/net/sunrpc/sunrpc.ko:
"""


def fake_modules(root: Path) -> Path:
    """A lib/modules/VERSION tree with empty module files named in FAKE_DEP."""
    moddir = root / "lib/modules/6.1.0-9-amd64"
    for line in FAKE_DEP.splitlines():
        for rel in line.replace(":", " ").split():
            (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
            (moddir / rel).write_bytes(b"")
    (moddir / "modules.dep").write_text(FAKE_DEP)
    (moddir / "modules.order").write_text("")
    return moddir


def test_select_modules_takes_network_storage_the_jobs_file_systems_and_skips_the_rest(
        tmp_path):
    chosen = builder.select_modules(fake_modules(tmp_path))
    assert chosen == {"kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko",
                      "kernel/fs/ext4/ext4.ko", "kernel/fs/efivarfs/efivarfs.ko"}


def test_dependencies_are_added_transitively(tmp_path):
    moddir = fake_modules(tmp_path)
    deps = builder.parse_modules_dep(FAKE_DEP)
    closed = builder.with_dependencies(builder.select_modules(moddir), deps)
    assert "kernel/net/core/failover.ko" in closed
    assert "kernel/lib/crc16.ko" in closed
    assert not any("wireless" in m or "sound" in m for m in closed)


def test_kernel_version_needs_the_matching_vmlinuz(tmp_path):
    fake_modules(tmp_path)
    with pytest.raises(builder.BuildError):
        builder.kernel_version(tmp_path)
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/vmlinuz-6.1.0-9-amd64").write_bytes(b"k")
    assert builder.kernel_version(tmp_path) == "6.1.0-9-amd64"


def test_kernel_package_comes_from_the_meta_package_depends():
    fields = debs.parse_control("Package: linux-image-amd64\nVersion: 6.1.1-1\n"
                                   "Depends: linux-image-6.1.0-9-amd64 (= 6.1.1-1)\n\nPackage: x\n")
    assert fields["Version"] == "6.1.1-1"
    assert builder.kernel_package_name(fields["Depends"]) == "linux-image-6.1.0-9-amd64"
    with pytest.raises(builder.BuildError):
        builder.kernel_package_name("libc6")


PACKAGES = [Package("linux-image-6.1.0-9-amd64", "6.1.1-1"), Package("busybox-static", "1:1.35")]


def made_outputs(tmp_path) -> list[Path]:
    kernel, initrd = builder.outputs(tmp_path / "out")
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"kernel")
    initrd.write_bytes(b"initrd")
    return [kernel, initrd]


def test_stamp_is_up_to_date_only_for_the_same_inputs_and_outputs(tmp_path):
    outputs = made_outputs(tmp_path)
    stamp_path = tmp_path / "stamp.json"
    stamp = builder.make_stamp(PACKAGES, "generic", tmp_path / "out")
    assert not builder.is_up_to_date(stamp_path, stamp, outputs)
    builder.write_stamp(stamp_path, stamp, outputs)
    assert builder.is_up_to_date(stamp_path, stamp, outputs)
    newer = [Package("linux-image-6.1.0-9-amd64", "6.1.2-1"), PACKAGES[1]]
    assert not builder.is_up_to_date(stamp_path, builder.make_stamp(newer, "generic",
                                                                    tmp_path / "out"), outputs)
    assert not builder.is_up_to_date(stamp_path, builder.make_stamp(PACKAGES, "cloud",
                                                                    tmp_path / "out"), outputs)
    outputs[1].write_bytes(b"changed initrd")
    assert not builder.is_up_to_date(stamp_path, stamp, outputs)


def test_stamp_changes_with_the_init_script(tmp_path, monkeypatch):
    before = builder.make_stamp(PACKAGES, "generic", tmp_path)
    init = tmp_path / "init.sh"
    init.write_text(builder.INIT_TEMPLATE.read_text() + "# changed\n")
    monkeypatch.setattr(builder, "INIT_TEMPLATE", init)
    assert builder.make_stamp(PACKAGES, "generic", tmp_path) != before


def test_build_with_nothing_changed_does_nothing(tmp_path, monkeypatch):
    outputs = made_outputs(tmp_path)
    cache = tmp_path / "cache"
    stamp = builder.make_stamp(PACKAGES, "generic", tmp_path / "out")
    builder.write_stamp(builder.stamp_file(cache, "generic-amd64", tmp_path / "out"), stamp,
                        outputs)
    monkeypatch.setattr(builder, "resolve_packages", lambda flavour: PACKAGES)
    monkeypatch.setattr(builder, "resolve_tool_packages", lambda: [])
    monkeypatch.setattr(builder, "download", pytest.fail)
    lines = []
    result = builder.build(tmp_path / "out", "generic", cache, progress=lines.append)
    assert not result.built
    assert any(line.startswith("up to date") for line in lines)


def test_builds_into_other_dirs_keep_their_own_stamps(tmp_path):
    cache = tmp_path / "cache"
    first = builder.stamp_file(cache, "generic-amd64", tmp_path / "a")
    assert first == builder.stamp_file(cache, "generic-amd64", tmp_path / "a" / ".." / "a")
    assert first != builder.stamp_file(cache, "generic-amd64", tmp_path / "b")


def staged_root(tmp_path) -> Path:
    root = tmp_path / "root"
    busybox = tmp_path / "bb/bin/busybox"
    busybox.parent.mkdir(parents=True)
    busybox.write_bytes(b"\x7fELF fake busybox")
    builder.stage_initramfs(root, tmp_path / "bb", "#!/bin/busybox sh\necho hi\n")
    return root


def test_initramfs_archive_lists_init_busybox_script_and_device_nodes(tmp_path):
    out = io.BytesIO()
    cpio.write_newc(staged_root(tmp_path), out)
    entries = {e["name"]: e for e in cpio.read_newc(out.getvalue())}
    assert entries["init"]["data"].startswith(b"#!/bin/busybox sh")
    assert entries["init"]["mode"] & 0o111
    assert entries["bin/busybox"]["data"] == b"\x7fELF fake busybox"
    assert stat.S_ISLNK(entries["bin/sh"]["mode"]) and entries["bin/sh"]["data"] == b"busybox"
    assert "usr/share/udhcpc/default.script" in entries
    assert stat.S_ISCHR(entries["dev/console"]["mode"]) and entries["dev/console"]["rdev"] == (5, 1)
    assert stat.S_ISDIR(entries["proc"]["mode"])


def test_initrd_is_gzip_and_reproducible(tmp_path):
    root = staged_root(tmp_path)
    first, second = tmp_path / "a.gz", tmp_path / "b.gz"
    cpio.write_initrd(root, first)
    cpio.write_initrd(root, second)
    assert first.read_bytes() == second.read_bytes()
    names = [e["name"] for e in cpio.read_newc(gzip.decompress(first.read_bytes()))]
    assert "init" in names
    if shutil.which("cpio"):
        listing = subprocess.run(["cpio", "-t"], input=gzip.decompress(first.read_bytes()),
                                 capture_output=True, check=True).stdout.decode().split()
        assert "init" in listing and "dev/console" in listing


def test_init_script_is_valid_shell():
    shell = shutil.which("busybox") or shutil.which("sh")
    for script in (builder.INIT_TEMPLATE, builder.DHCP_SCRIPT):
        cmd = [shell, "sh", "-n", str(script)] if shell.endswith("busybox") else [shell, "-n",
                                                                                    str(script)]
        assert subprocess.run(cmd, capture_output=True).returncode == 0, script


@pytest.mark.django_db
def test_command_defaults_to_generic_and_the_boot_resources_dir(settings, tmp_path, monkeypatch):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "resources")
    calls = []

    def fake_build(output_dir, *args, **kwargs):
        calls.append((output_dir, *args))
        kernel, initrd = builder.outputs(output_dir)
        kernel.parent.mkdir(parents=True)
        kernel.write_bytes(b"k")
        initrd.write_bytes(b"i")
        return builder.BuildResult(built=True, kernel=kernel, initrd=initrd)

    monkeypatch.setattr(builder, "build", fake_build)
    monkeypatch.setattr(loaders, "fetch_loaders", fake_fetch_loaders)
    out = io.StringIO()
    call_command("import_boot_images", stdout=out)
    output_dir, flavour, cache_dir, force = calls[0]
    assert (output_dir, flavour, force) == (tmp_path / "resources", "generic", False)
    assert cache_dir == Path(settings.VAR_DIR) / "image-build"
    # The build is registered, so racks sync it.
    assert "registered boot resources ephemeral/" in out.getvalue()
    assert "bootloader/uefi/amd64" in out.getvalue()
    assert BootResourceFile.objects.filter(path="images/ephemeral/amd64/linux").exists()


# --- integration: a real build from Debian packages, booted in qemu ----------------------------

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
TOOLS = ("apt-get", "apt-cache", "dpkg", "dpkg-deb", "depmod", "qemu-system-x86_64")
BOOT_TIMEOUT = 120


def missing_prerequisite() -> str:
    """Why the integration test cannot run here, or ''."""
    if os.geteuid() != 0:
        return "needs root (apt-get download into a root-owned cache)"
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    return f"missing tools: {', '.join(missing)}" if missing else ""


@pytest.fixture(scope="module")
def built_image(tmp_path_factory, django_db_setup, django_db_blocker):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    policy = subprocess.run(["apt-cache", "policy", "linux-image-cloud-amd64"],
                            capture_output=True, text=True).stdout
    if "Candidate: (none)" in policy or "Candidate:" not in policy:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    out = tmp_path_factory.mktemp("boot-resources")
    log = io.StringIO()
    started = time.monotonic()
    run_import(django_db_blocker, "--output-dir", str(out), "--force", stdout=log)
    return out, log.getvalue(), time.monotonic() - started


def run_import(django_db_blocker, *args: str, stdout) -> None:
    """`manage.py import_boot_images --kernel-flavour cloud` with our package cache; the run it
    records in the database (the import marker and its BootImport row) is removed after."""
    with django_db_blocker.unblock():
        try:
            call_command("import_boot_images", "--kernel-flavour", "cloud", "--cache-dir",
                         str(CACHE_DIR), *args, stdout=stdout)
        finally:
            BootImport.objects.all().delete()


@pytest.mark.integration
def test_build_shows_progress_and_a_second_run_does_nothing(built_image, django_db_blocker):
    out, log, _ = built_image
    assert "resolving packages" in log and "modules, depmod done" in log and "done:" in log
    kernel, initrd = builder.outputs(out)
    mtimes = (kernel.stat().st_mtime_ns, initrd.stat().st_mtime_ns)
    again = io.StringIO()
    run_import(django_db_blocker, "--output-dir", str(out), stdout=again)
    assert "up to date" in again.getvalue()
    assert (kernel.stat().st_mtime_ns, initrd.stat().st_mtime_ns) == mtimes


@pytest.mark.integration
def test_built_initrd_has_modules_with_their_index(built_image):
    _, initrd = builder.outputs(built_image[0])
    names = {e["name"] for e in cpio.read_newc(gzip.decompress(initrd.read_bytes()))}
    version = next(n.split("/")[2] for n in names if n.startswith("lib/modules/")
                   and n.count("/") >= 2)
    base = f"lib/modules/{version}"
    for index in ("modules.dep", "modules.alias"):
        assert f"{base}/{index}" in names
    assert f"{base}/kernel/drivers/net/virtio_net.ko" in names
    assert f"{base}/kernel/net/core/failover.ko" in names  # a dependency outside the chosen dirs


def wait_for(path: Path, patterns: list[str], proc: subprocess.Popen, timeout: float) -> str:
    """The console text once every pattern is in it (or qemu exited, or timeout)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if all(p in text for p in patterns) or proc.poll() is not None:
            break
        time.sleep(1)
    return text


@pytest.mark.integration
def test_image_boots_loads_virtio_net_by_modalias_gets_dhcp_and_powers_off(built_image, tmp_path):
    kernel, initrd = builder.outputs(built_image[0])
    console = tmp_path / "console.log"
    cmd = ["qemu-system-x86_64", "-machine", "accel=tcg", "-m", "512", "-no-reboot",
           "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", "console=ttyS0 metal.poweroff=1",
           "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
           "-serial", f"file:{console}", "-display", "none", "-monitor", "none"]
    patterns = ["metal: loaded by modalias: virtio_net", "metal: dhcp address on eth0: 10.0.2.15",
                "metal: ephemeral environment up (ip=10.0.2.15", "metal: powering off"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        text = wait_for(console, patterns, proc, BOOT_TIMEOUT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pattern in patterns:
        assert pattern in text, f"{pattern!r} not on the console:\n{text[-4000:]}"
    assert proc.returncode == 0


# A fake region spoken to over qemu's guestfwd: one process per guest connection, HTTP on its
# stdin/stdout, so the VM reaches nothing but this script (no socket on the host at all).
FAKE_REGION = r'''
import sys
request = sys.stdin.buffer.readline().decode()
length, auth = 0, "-"
while True:
    line = sys.stdin.buffer.readline().decode()
    if line.lower().startswith("content-length:"):
        length = int(line.split(":")[1])
    if line.lower().startswith("authorization:"):
        auth = line.split(":", 1)[1].strip()
    if line in ("\r\n", "\n", ""):
        break
body = sys.stdin.buffer.read(length).decode() if length else ""
with open(LOG, "a") as log:
    log.write(request.strip() + " auth=" + auth + " " + body + "\n")
found = "/metadata/job/" in request and JOB
payload = (JOB if found else "no").encode()
status = "200 OK" if found else "404 Not Found"
sys.stdout.buffer.write(b"HTTP/1.0 " + status.encode() + b"\r\nContent-Length: "
                        + str(len(payload)).encode() + b"\r\n\r\n" + payload)
sys.stdout.flush()
'''


def boot_with_region(image: Path, tmp_path: Path, job: str,
                     credentials: str = "metal.system_id=abc123 metal.token=tok"
                     ) -> tuple[str, str]:
    """Boot the image with a fake region at 10.0.2.100; the console text and the region's log."""
    kernel, initrd = builder.outputs(image)
    log, script, console = tmp_path / "region.log", tmp_path / "region.py", tmp_path / "console"
    script.write_text(f"LOG = {str(log)!r}\nJOB = {job!r}\n" + FAKE_REGION)
    forward = f"guestfwd=tcp:10.0.2.100:80-cmd:{sys.executable} {script}"
    append = f"console=ttyS0 metal.poweroff=1 metal.region=http://10.0.2.100/ {credentials}"
    cmd = ["qemu-system-x86_64", "-machine", "accel=tcg", "-m", "512", "-no-reboot",
           "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
           "-netdev", f"user,id=n0,restrict=on,{forward}", "-device", "virtio-net-pci,netdev=n0",
           "-serial", f"file:{console}", "-display", "none", "-monitor", "none"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        text = wait_for(console, ["metal: powering off"], proc, BOOT_TIMEOUT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return text, log.read_text() if log.exists() else ""


@pytest.mark.integration
def test_image_runs_the_job_from_the_region(built_image, tmp_path):
    job = "#!/bin/sh\necho \"metal: job ran on $(hostname)\"\n"
    text, log = boot_with_region(built_image[0], tmp_path, job)
    # The token travels in the Authorization header, never in a URL or a body.
    assert "GET /api/v1/metadata/job/ HTTP/1.1 auth=Machine abc123:tok" in log
    assert "token" not in log
    assert "metal: running job" in text and "metal: job ran" in text
    assert "metal: ephemeral environment up (ip=10.0.2.15, system_id=abc123)" in text


@pytest.mark.integration
def test_image_without_credentials_runs_the_anonymous_enlistment_job(built_image, tmp_path):
    job = '#!/bin/sh\necho "metal: job mac=$METAL_MAC id=${METAL_SYSTEM_ID:-none}"\n'
    text, log = boot_with_region(built_image[0], tmp_path, job, credentials="")
    assert "GET /api/v1/metadata/job/ HTTP/1.1 auth=- " in log
    assert "metal: job mac=52:54:00:12:34:56 id=none" in text


@pytest.mark.integration
def test_image_says_hello_when_there_is_no_job(built_image, tmp_path):
    text, log = boot_with_region(built_image[0], tmp_path, "")
    assert ("POST /api/v1/metadata/hello/ HTTP/1.1 auth=Machine abc123:tok "
            "mac=52:54:00:12:34:56&ip=10.0.2.15") in log
    assert "token" not in log
    assert "metal: no job; saying hello" in text and "metal: powering off" in text
