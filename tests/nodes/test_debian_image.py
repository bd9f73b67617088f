"""The deployable Debian image (import_boot_images --deployable debian/bookworm): the pure parts
on fakes, then a real mmdebstrap build (once, kept in the shared image cache across runs) read
back from its tarball, registered, and imported again as a no-op."""
import hashlib
import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from nodes.bootimages import aptsources, builder, debian, formats
from nodes.bootimages.debs import BuildError
from nodes.models import BootImport, BootResource
from nodes.services.bootresources import boot_resource_create, file_format_for
from tests.processes import skip_or_fail

HOST_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
"""
HOST_LIST = """\
deb [arch=amd64 signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
# deb http://deb.debian.org/debian bookworm-backports main
"""
POLICY = """\
cloud-init:
  Installed: (none)
  Candidate: 22.4.2-1+deb12u4
  Version table:
libc6:amd64:
  Installed: 2.36-9+deb12u14
  Candidate: 2.36-9+deb12u14
nothing:
  Installed: (none)
  Candidate: (none)
"""


# --- pure parts ----------------------------------------------------------------------------

def test_only_the_series_entries_of_the_host_sources_go_into_the_image(tmp_path, monkeypatch):
    (tmp_path / "debian.sources").write_text(HOST_SOURCES)
    (tmp_path / "extra.list").write_text(HOST_LIST)
    monkeypatch.setattr(aptsources, "apt_source_files",
                        lambda: [tmp_path / "debian.sources", tmp_path / "extra.list"])
    assert aptsources.series_sources("bookworm").splitlines() == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian bookworm-updates main",
        "deb [signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main",
    ]
    with pytest.raises(BuildError, match="no apt source"):
        aptsources.series_sources("trixie")


def test_candidates_come_from_one_apt_cache_policy(monkeypatch):
    calls = []
    monkeypatch.setattr(aptsources, "run", lambda cmd: calls.append(cmd) or POLICY)
    assert aptsources.candidates(["cloud-init", "libc6", "nothing", "absent"]) == {
        "cloud-init": "22.4.2-1+deb12u4", "libc6": "2.36-9+deb12u14", "nothing": "",
        "absent": ""}
    assert len(calls) == 1


def test_stamp_follows_every_installed_package_not_only_the_requested_ones(monkeypatch):
    versions = {"libssl3": "3.0.15-1"}
    monkeypatch.setattr(debian, "candidates",
                        lambda names: {name: versions.get(name, "1") for name in names})
    monkeypatch.setattr(debian, "run", lambda cmd: "1.3.5-7")
    manifest = {"libssl3": "3.0.15-1", "cloud-init": "1"}
    before = debian.make_stamp("bookworm", "deb x bookworm main\n", manifest, Path("/out"))
    assert before == debian.make_stamp("bookworm", "deb x bookworm main\n", manifest,
                                       Path("/out"))
    versions["libssl3"] = "3.0.16-1"  # a security update of a dependency only
    assert before != debian.make_stamp("bookworm", "deb x bookworm main\n", manifest,
                                       Path("/out"))


def test_only_supported_series_build():
    assert debian.title("bookworm") == "Debian 12"
    with pytest.raises(BuildError, match="debian/bookworm"):
        debian.build(Path("/nonexistent"), "sid")


def test_tzst_is_a_root_tarball_format_and_root_tgz_still_defaults_to_tgz(db, admin_user):
    assert formats.filename(formats.TZST) == "root.tar.zst"
    assert formats.check_content(formats.TZST, formats.ZSTD_MAGIC + b"x") is None
    assert "zstd" in formats.check_content(formats.TZST, b"\x1f\x8b\x08rest")
    resource = boot_resource_create(admin_user, os="debian", series="bookworm",
                                    architecture="amd64/generic", kind="deployable",
                                    origin="uploaded")
    assert file_format_for(resource, "root-tgz") == formats.TGZ
    assert file_format_for(resource, "root-tgz", formats.TZST) == formats.TZST


@pytest.mark.django_db
def test_command_builds_and_registers_the_deployable_debian(settings, tmp_path, monkeypatch):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "resources")
    calls = []

    def fake_build(output_dir, series, cache_dir, force, progress):
        calls.append((output_dir, series, cache_dir, force))
        image, manifest = debian.outputs(output_dir, series)
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(formats.ZSTD_MAGIC + b"frame")
        manifest.write_text("cloud-init 22.4\n")
        progress("done")
        return debian.DebianResult(True, image, manifest, series, {"cloud-init": "22.4"})

    monkeypatch.setattr(debian, "build", fake_build)
    out = io.StringIO()
    call_command("import_boot_images", "--deployable", "debian/bookworm", stdout=out)
    assert calls == [(tmp_path / "resources", "bookworm", Path(settings.VAR_DIR) / "image-build",
                      False)]
    assert "registered boot resource debian/bookworm (tzst)" in out.getvalue()
    resource = BootResource.objects.get(name="debian/bookworm")
    assert (resource.title, resource.kind, resource.metadata["packages"]) == (
        "Debian 12", "deployable", {"cloud-init": "22.4"})
    assert list(resource.files.values_list("path", "filetype", "format")) == [
        ("images/deployable/amd64/generic/bookworm/root.tar.zst", "root-tgz", "tzst")]
    with pytest.raises(CommandError, match="debian/<series>"):
        call_command("import_boot_images", "--deployable", "ubuntu/noble", stdout=io.StringIO())


# --- integration: a real build with mmdebstrap, kept in the shared image cache -------------

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
# Built here once; later sessions find it up to date (the stamp is per output dir).
SHARED_BUILD = CACHE_DIR / "debian-boot-resources"
READ = ("./etc/machine-id", "./etc/hostname", "./etc/apt/sources.list.d/0000sources.list")


def missing_prerequisite() -> str:
    """Why the real build cannot run here, or ''."""
    if os.geteuid() != 0:
        return "needs root (mmdebstrap's root mode)"
    missing = [tool for tool in ("mmdebstrap", "zstd", "apt-cache", "sbverify")
               if not shutil.which(tool)]
    return (f"missing tools: {', '.join(missing)} (apt-get install mmdebstrap zstd sbsigntool)"
            if missing else "")


@pytest.fixture(scope="session")
def built_debian():
    """(result, build log, seconds): built once, or found up to date in the shared cache."""
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    log, started = [], time.monotonic()
    try:
        result = debian.build(SHARED_BUILD, "bookworm", CACHE_DIR, progress=log.append)
    except BuildError as exc:
        skip_or_fail(f"cannot build the Debian image: {exc}")
    return result, log, time.monotonic() - started


@pytest.fixture(scope="session")
def tarball(built_debian, tmp_path_factory):
    """The image read back in one pass: {name: TarInfo}, a few small files' bytes and the
    kernel, extracted to a temp dir, with the signed UEFI loaders."""
    image = built_debian[0].image
    members, contents, extracted = {}, {}, tmp_path_factory.mktemp("debian-image")
    unzstd = subprocess.Popen(["zstd", "-dc", str(image)], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=unzstd.stdout, mode="r|") as tar:
        for member in tar:
            members[member.name] = member
            if member.name in READ:
                contents[member.name] = tar.extractfile(member).read()
            elif member.isfile() and (member.name.startswith("./boot/vmlinuz-")
                                      or member.name.endswith(".efi.signed")):
                (extracted / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    assert unzstd.wait() == 0
    return members, contents, extracted


def sbverify_list(path: Path) -> str:
    return subprocess.run(["sbverify", "--list", str(path)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.integration
def test_build_shows_progress_and_the_manifest_has_the_packages(built_debian):
    result, log, _ = built_debian
    assert log[0].startswith("resolving debian/bookworm")
    assert any(line.startswith(("done:", "up to date:")) for line in log)
    if result.built:
        assert any("Setting up cloud-init" in line for line in log)
    installed = debian.read_manifest(result.manifest)
    assert set(debian.PACKAGES) <= set(installed)
    # Only the -bin GRUB packages: grub-pc and grub-efi-amd64 would run grub-install.
    assert not {"grub-pc", "grub-efi-amd64"} & set(installed)


@pytest.mark.integration
def test_kernel_and_uefi_loaders_are_signed(tarball):
    members, _, extracted = tarball
    kernels = [name for name in members if name.startswith("./boot/vmlinuz-")]
    assert len(kernels) == 1
    version = kernels[0].removeprefix("./boot/vmlinuz-")
    assert f"./boot/initrd.img-{version}" in members
    assert "Debian Secure Boot CA" in sbverify_list(extracted / f"vmlinuz-{version}")
    assert "Microsoft Corporation UEFI CA" in sbverify_list(extracted / "shimx64.efi.signed")
    assert "Debian Secure Boot CA" in sbverify_list(extracted / "grubx64.efi.signed")
    for path in ("./usr/lib/shim/shimx64.efi.signed",
                 "./usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
                 "./usr/lib/grub/i386-pc/boot.img", "./usr/lib/grub/x86_64-efi/modinfo.sh",
                 "./usr/sbin/grub-install", "./usr/bin/efibootmgr"):
        assert path in members, path
    assert members["./usr/lib/grub/i386-pc"].isdir()


@pytest.mark.integration
def test_cloud_init_and_sshd_are_installed_and_enabled(tarball):
    members, _, _ = tarball
    wants = "./etc/systemd/system/"
    for unit in ("cloud-init-local", "cloud-init", "cloud-config", "cloud-final"):
        assert members[f"{wants}cloud-init.target.wants/{unit}.service"].issym(), unit
    # The generator puts cloud-init.target in the boot unless cloud-init is disabled.
    assert "./usr/lib/systemd/system-generators/cloud-init-generator" in members
    assert "./etc/cloud/cloud-init.disabled" not in members
    assert members[f"{wants}multi-user.target.wants/ssh.service"].issym()
    assert members["./usr/sbin/sshd"].isfile() and members["./usr/bin/cloud-init"].isfile()
    assert "./usr/sbin/ifup" in members and "./usr/sbin/dhclient" in members


@pytest.mark.integration
def test_nothing_of_the_build_host_is_in_the_image(tarball):
    members, contents, _ = tarball
    assert not [name for name in members if name.startswith("./etc/ssh/ssh_host_")]
    assert contents["./etc/machine-id"] == b""
    assert "./var/lib/dbus/machine-id" not in members
    assert contents["./etc/hostname"] == b"localhost\n" != socket.gethostname().encode() + b"\n"
    resolv_conf = members["./etc/resolv.conf"]  # resolvconf's link, not the host's file
    assert resolv_conf.issym() and resolv_conf.linkname == "../run/resolvconf/resolv.conf"
    assert "./usr/sbin/policy-rc.d" not in members
    assert "./etc/apt/apt.conf.d/99mmdebstrap" not in members  # recommends as Debian's
    leftovers = [name for name in members if name.startswith(
        ("./var/lib/apt/lists/", "./var/cache/apt/archives/")) and members[name].isfile()
        and not name.endswith("/lock")]
    assert leftovers == []
    sources = contents["./etc/apt/sources.list.d/0000sources.list"].decode()
    assert "bookworm" in sources and "cloud-sdk" not in sources


@pytest.mark.integration
def test_tarball_keeps_numeric_owners_modes_and_device_nodes(tarball):
    members, _, _ = tarball
    assert all(m.uname == "" and m.gname == "" for m in members.values())  # numeric only
    shadow = members["./etc/shadow"]
    assert (shadow.uid, shadow.gid, shadow.mode) == (0, 42, 0o640)  # group shadow
    assert members["./usr/bin/sudo"].mode & 0o4000  # setuid
    assert members["./dev/null"].ischr()


@pytest.mark.integration
@pytest.mark.django_db
def test_import_registers_it_with_sha256_and_size_and_a_second_import_is_a_no_op(
        built_debian, settings):
    image = built_debian[0].image
    settings.BOOT_RESOURCES_DIR = str(SHARED_BUILD)
    mtime = image.stat().st_mtime_ns
    for _ in range(2):
        out, started = io.StringIO(), time.monotonic()
        call_command("import_boot_images", "--deployable", "debian/bookworm", "--cache-dir",
                     str(CACHE_DIR), stdout=out)
        assert "up to date" in out.getvalue() and time.monotonic() - started < 30
        assert "registered boot resource debian/bookworm (tzst)" in out.getvalue()
    assert image.stat().st_mtime_ns == mtime
    resource = BootResource.objects.get(os="debian", series="bookworm")
    assert (resource.title, resource.kind, resource.architecture) == (
        "Debian 12", "deployable", "amd64/generic")
    assert resource.metadata["kernel_signed"] is True
    row = resource.files.get()
    digest = hashlib.sha256()
    with open(image, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    assert (row.path, row.filetype, row.format) == (
        "images/deployable/amd64/generic/bookworm/root.tar.zst", "root-tgz", "tzst")
    assert (row.size, row.sha256) == (image.stat().st_size, digest.hexdigest())
    assert BootImport.current().state == "done"
    assert builder.stamp_file(CACHE_DIR, "debian-bookworm-amd64", SHARED_BUILD).is_file()
