"""The region's imported UEFI loaders (synced into the cache) served under the names DHCP gives,
over real TFTP and HTTP on 127.0.0.1; the rack's own packages only as a fallback."""
import os
import urllib.request

import pytest

from bootsvc import loaders
from bootsvc.loaders import IMPORTED_DIR, imported_path, seed_loaders
from nodes.bootimages.loaders import LOADER_DIR
from tests.bootsvc import test_loaders
from tests.bootsvc.test_loaders import install, status
from tests.bootsvc.test_tftp import fetch

# The loader tests' fixtures: a LoaderWatch over an empty cache, its TFTP and HTTP servers.
watch, tftp, http = test_loaders.watch, test_loaders.tftp, test_loaders.http


def import_loaders(cache) -> dict[str, bytes]:
    """Put the region's shim and GRUB where the image cache syncs them; their bytes."""
    directory = cache / IMPORTED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    files = {"shimx64.efi": b"MZ shim " + os.urandom(30_000),
             "grubx64.efi": b"MZ grub " + os.urandom(30_000)}
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def http_get(port: int, name: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}", timeout=10) as response:
        return response.read()


def test_the_rack_looks_where_the_region_puts_them():
    assert IMPORTED_DIR == LOADER_DIR.as_posix()


def test_tftp_serves_the_imported_shim_as_bootx64_and_grub_beside_it(watch, tftp):
    files = import_loaders(watch.cache_dir)
    assert fetch(tftp.port, "bootx64.efi")[0] == files["shimx64.efi"]
    assert fetch(tftp.port, "shimx64.efi")[0] == files["shimx64.efi"]
    assert fetch(tftp.port, "grubx64.efi")[0] == files["grubx64.efi"]
    assert fetch(tftp.port, "/grubx64.efi")[0] == files["grubx64.efi"]  # shim's absolute path
    assert watch.events == []


def test_http_serves_the_imported_shim_as_bootx64_and_grub_beside_it(watch, http):
    files = import_loaders(watch.cache_dir)
    assert http_get(http.port, "bootx64.efi") == files["shimx64.efi"]
    assert http_get(http.port, "grubx64.efi") == files["grubx64.efi"]
    assert watch.events == []


def test_imported_loaders_win_over_copies_seeded_from_the_rack_packages(watch, tftp, http):
    installed = install(watch.root_dir, "bootx64.efi")
    install(watch.root_dir, "grubx64.efi")
    assert set(seed_loaders(watch.cache_dir, watch.root_dir)) >= {"bootx64.efi", "grubx64.efi"}
    assert fetch(tftp.port, "bootx64.efi")[0] == installed  # no import yet: the fallback
    files = import_loaders(watch.cache_dir)
    assert fetch(tftp.port, "bootx64.efi")[0] == files["shimx64.efi"]
    assert http_get(http.port, "grubx64.efi") == files["grubx64.efi"]


def test_nothing_is_seeded_for_a_loader_the_region_imported(tmp_path):
    cache, root = tmp_path / "cache", tmp_path / "root"
    import_loaders(cache)
    for name in ("bootx64.efi", "shimx64.efi", "grubx64.efi", "lpxelinux.0"):
        install(root, name)
    assert seed_loaders(cache, root) == ["lpxelinux.0"]
    assert not (cache / "bootx64.efi").exists()


def test_imported_loaders_are_not_missing(watch):
    watch.on_miss("bootx64.efi", "10.0.0.9", "TFTP")  # asked for while absent: counts as missing
    assert "bootx64.efi" in status(watch)["reason"]
    import_loaders(watch.cache_dir)
    watch.write_status()
    assert "bootx64.efi" not in status(watch)["reason"]


@pytest.mark.parametrize("name", ["lpxelinux.0", "grubaa64.efi", "../etc/passwd"])
def test_only_the_uefi_amd64_names_map_to_imported_files(tmp_path, name):
    import_loaders(tmp_path)
    assert imported_path(tmp_path, name) is None


def test_an_imported_path_leaving_the_cache_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shimx64.efi").write_bytes(b"x")
    cache = tmp_path / "cache"
    (cache / IMPORTED_DIR).parent.mkdir(parents=True)
    (cache / IMPORTED_DIR).symlink_to(outside)
    assert loaders.imported_path(cache, "bootx64.efi") is None
