"""The UEFI loaders' import: shim and GRUB registered as the bootloader/uefi/amd64 boot resource
(sha256, size, packages), the ephemeral kernel's signing recorded, racks' manifest; a real
apt-get download + dpkg -x of both packages (integration)."""
import hashlib
import os
import shutil
import subprocess

import pytest

from nodes.bootimages import builder, debs, loaders
from nodes.models import BootResource
from nodes.services import bootimport
from nodes.services.bootloaders import boot_resource_register_loaders
from nodes.tasks import import_boot_images
from tests.nodes.bootimport_fakes import fake_fetch_loaders
from tests.processes import skip_or_fail
from zones.services.bootfiles import boot_manifest, boot_resources_dir

SHIM = "images/bootloader/uefi/amd64/shimx64.efi"
GRUB = "images/bootloader/uefi/amd64/grubx64.efi"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.django_db
def test_loaders_are_registered_with_sha256_size_and_their_packages(settings, tmp_path):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "resources")
    fetched = fake_fetch_loaders(boot_resources_dir(), tmp_path / "cache", progress=lambda _: 0)
    resource = boot_resource_register_loaders(fetched, series="bookworm")
    assert (resource.name, resource.kind, resource.architecture) == (
        "bootloader/uefi/amd64", "bootloader", "amd64/generic")
    rows = {row.path: row for row in resource.files.all()}
    assert set(rows) == {SHIM, GRUB}
    for path, row in rows.items():
        on_disk = boot_resources_dir() / path
        assert row.filetype == "loader" and row.format == ""
        assert (row.sha256, row.size) == (sha256(on_disk), on_disk.stat().st_size)
    assert resource.metadata == {
        "packages": {"grub-efi-amd64-signed": "2.06", "shim-signed": "1.51"},
        "files": {"grubx64.efi": {"package": "grub-efi-amd64-signed", "version": "2.06"},
                  "shimx64.efi": {"package": "shim-signed", "version": "1.51"}},
    }


@pytest.mark.django_db
def test_registering_again_is_idempotent_and_follows_new_bytes(settings, tmp_path):
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "resources")
    fetched = fake_fetch_loaders(boot_resources_dir(), tmp_path / "cache", progress=lambda _: 0)
    boot_resource_register_loaders(fetched, series="bookworm")
    fetched.files["shimx64.efi"].write_bytes(b"MZ a newer shim")
    fetched.packages["shim-signed"] = "1.52"
    resource = boot_resource_register_loaders(fetched, series="bookworm")
    assert BootResource.objects.filter(kind="bootloader").count() == 1
    shim = resource.files.get(path=SHIM)
    assert shim.sha256 == hashlib.sha256(b"MZ a newer shim").hexdigest() and shim.size == 15
    assert resource.metadata["files"]["shimx64.efi"]["version"] == "1.52"


@pytest.mark.django_db
def test_the_import_registers_the_loaders_and_the_signed_kernel_for_the_racks(fake_build):
    outcome = bootimport.boot_images_import()
    assert outcome.state == "done" and "bootloader/uefi/amd64" in outcome.message
    loader = BootResource.objects.get(kind="bootloader")
    assert loader.files.count() == 2 and loader.metadata["packages"]["shim-signed"] == "1.51"
    ephemeral = BootResource.objects.get(kind="ephemeral")
    assert ephemeral.metadata["kernel_package"] == "linux-image-6.1.0-9-amd64"
    assert ephemeral.metadata["kernel_source"] == "linux-signed-amd64"
    assert ephemeral.metadata["kernel_signed"] is True
    synced = {entry["path"]: entry for entry in boot_manifest()["files"]}
    assert {SHIM, GRUB} <= set(synced)  # the racks' image sync fetches them
    assert synced[SHIM]["sha256"] == loader.files.get(path=SHIM).sha256


@pytest.mark.django_db
def test_the_api_import_task_takes_the_same_path(fake_build):
    assert import_boot_images() == "done"
    assert BootResource.objects.filter(kind="bootloader").exists()


def test_the_builder_never_picks_the_unsigned_kernel():
    depends = "linux-image-6.1.0-9-amd64-unsigned | linux-image-6.1.0-9-amd64 (= 6.1.1-1)"
    assert builder.kernel_package_name(depends) == "linux-image-6.1.0-9-amd64"
    with pytest.raises(debs.BuildError):
        builder.kernel_package_name("linux-image-6.1.0-9-amd64-unsigned (= 6.1.1-1)")


def test_kernel_signing_comes_from_the_source_package(monkeypatch):
    monkeypatch.setattr(debs, "run", lambda cmd: "Package: linux-image-6.1.0-9-amd64\n"
                        "Source: linux-signed-amd64 (6.1.1+1)\nVersion: 6.1.1-1\nSize: 9\n")
    package, _ = debs.candidate("linux-image-6.1.0-9-amd64")
    assert package.source == "linux-signed-amd64"
    assert builder.kernel_signing(package)["kernel_signed"] is True
    unsigned = debs.Package("linux-image-6.1.0-9-amd64-unsigned", "6.1.1-1", source="linux")
    assert builder.kernel_signing(unsigned) == {
        "kernel_package": "linux-image-6.1.0-9-amd64-unsigned",
        "kernel_package_version": "6.1.1-1", "kernel_source": "linux", "kernel_signed": False}


def test_a_package_without_the_loader_is_a_build_error(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "candidate", lambda name: (debs.Package(name, "1"), {}))
    monkeypatch.setattr(loaders, "download", lambda package, cache, progress: cache / "x.deb")
    monkeypatch.setattr(loaders, "unpack", lambda deb, dest: dest)
    with pytest.raises(debs.BuildError, match="shim-signed has no usr/lib/shim/shimx64.efi"):
        loaders.fetch_loaders(tmp_path / "out", tmp_path / "cache", progress=lambda _: 0)
    assert not (tmp_path / "out" / loaders.LOADER_DIR).exists()


# --- integration: the real packages, apt-get download + dpkg -x -----------------------------

@pytest.mark.integration
def test_the_real_packages_give_signed_pe_loaders(tmp_path):
    missing = [tool for tool in ("apt-get", "apt-cache", "dpkg", "dpkg-deb")
               if not shutil.which(tool)]
    if missing:
        skip_or_fail(f"missing tools: {', '.join(missing)}")
    if os.geteuid() != 0:
        skip_or_fail("needs root (apt-get update when the lists lack the packages)")
    policy = subprocess.run(["apt-cache", "policy", "shim-signed", "grub-efi-amd64-signed"],
                            capture_output=True, text=True).stdout
    if policy.count("Candidate:") < 2 or "Candidate: (none)" in policy:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    lines = []
    result = loaders.fetch_loaders(tmp_path / "out", tmp_path / "cache", progress=lines.append)
    assert set(result.packages) == {"shim-signed", "grub-efi-amd64-signed"}
    for name in ("shimx64.efi", "grubx64.efi"):
        data = result.files[name].read_bytes()
        assert data[:2] == b"MZ" and len(data) > 100_000, name  # a PE/COFF image
        assert b"PE\0\0" in data[:4096]
    # Authenticode signatures: Microsoft's for shim, Debian's for GRUB.
    assert b"Microsoft Corporation UEFI CA" in result.files["shimx64.efi"].read_bytes()
    assert b"Debian Secure Boot" in result.files["grubx64.efi"].read_bytes()
    cached = sorted(p.name.split("_")[0] for p in (tmp_path / "cache").glob("*.deb"))
    assert cached == ["grub-efi-amd64-signed", "shim-signed"]
    again = loaders.fetch_loaders(tmp_path / "out", tmp_path / "cache", progress=lines.append)
    assert any("cached" in line for line in lines) and again.packages == result.packages
