"""Boot loaders: seeded from their packages, re-seeded on a TFTP or HTTP miss without a restart,
misses reported (rate-limited) with the package, and the rack's loader status for rackd."""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from bootsvc.http import BootHttpServer
from bootsvc.loaders import (
    LOADERS,
    LoaderWatch,
    missing_reason,
    read_status_reason,
    seed_loaders,
    status_path,
)
from bootsvc.tftp import BootTftpServer
from tests.bootsvc.test_tftp import TftpError, curl_get, decide, fetch, need_tool


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def install(root, name: str, data: bytes | None = None) -> bytes:
    """Put the file the loader's package installs under the fake root; returns its bytes."""
    source = root / LOADERS[name].source.lstrip("/")
    source.parent.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else os.urandom(40_000)
    source.write_bytes(data)
    return data


@pytest.fixture
def watch(tmp_path):
    """A LoaderWatch over an empty cache and an empty package root; events in .events."""
    cache, root = tmp_path / "cache", tmp_path / "root"
    cache.mkdir()
    root.mkdir()
    events = []
    watch = LoaderWatch(cache, events.append, status_path(tmp_path), root=root, clock=Clock())
    watch.events, watch.root_dir = events, root
    watch.refresh()
    return watch


@pytest.fixture
def tftp(watch):
    server = BootTftpServer(str(watch.cache_dir), decide, on_event=lambda event: None)
    watch.watch(server)
    server.port = server.start("127.0.0.1", 0)
    yield server
    server.stop()


@pytest.fixture
def http(watch):
    server = BootHttpServer(str(watch.cache_dir), decide, on_event=lambda event: None,
                            host="127.0.0.1", port=0)
    watch.watch(server, None)
    server.port = server.start()
    yield server
    server.stop()


def tftp_hpa_get(port: int, name: str, dest) -> str:
    """tftp-hpa's `get`: what it printed."""
    tftp = need_tool("tftp", "tftp-hpa")
    out = subprocess.run([tftp, "127.0.0.1", str(port), "-m", "binary", "-c", "get", name,
                          str(dest)], capture_output=True, timeout=30, text=True)
    return out.stdout + out.stderr


def status(watch) -> dict:
    return json.loads(watch.status_file.read_text())


def test_seeding_copies_what_is_installed_and_never_replaces_a_cached_loader(tmp_path):
    root, cache = tmp_path / "root", tmp_path / "cache"
    data = install(root, "lpxelinux.0")
    (cache / "ldlinux.c32").parent.mkdir(parents=True)
    (cache / "ldlinux.c32").write_bytes(b"synced from the region")
    install(root, "ldlinux.c32")
    assert seed_loaders(cache, root) == ["lpxelinux.0"]
    assert (cache / "lpxelinux.0").read_bytes() == data
    assert (cache / "ldlinux.c32").read_bytes() == b"synced from the region"
    assert seed_loaders(cache, root) == []
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_status_names_missing_required_loaders_and_their_packages(watch):
    assert [m["name"] for m in status(watch)["missing"]] == ["lpxelinux.0", "ldlinux.c32"]
    reason = read_status_reason(watch.status_file)
    assert reason == ("boot loaders missing: lpxelinux.0 (pxelinux), ldlinux.c32 "
                      "(syslinux-common); apt-get install pxelinux syslinux-common")
    install(watch.root_dir, "lpxelinux.0")
    install(watch.root_dir, "ldlinux.c32")
    watch.refresh()  # what the periodic check does
    assert status(watch) == {"missing": [], "reason": ""}
    assert read_status_reason(watch.status_file) == ""


@pytest.mark.parametrize("text", ["", "not json", "[1]", '{"reason": 5}'])
def test_an_unreadable_status_file_has_no_reason(tmp_path, text):
    (tmp_path / "status.json").write_text(text)
    assert read_status_reason(tmp_path / "status.json") == ""
    assert read_status_reason(tmp_path / "absent.json") == ""
    assert missing_reason([]) == ""


def test_a_missing_loader_over_tftp_is_an_error_and_an_event_then_served_once_installed(
        watch, tftp, tmp_path):
    need_tool("curl", "curl")
    said = tftp_hpa_get(tftp.port, "lpxelinux.0", tmp_path / "got")
    assert "Error code 1: file not found" in said, said
    [event] = watch.events
    assert (event["type"], event["path"], event["client"]) == (
        "boot_file_missing", "lpxelinux.0", "127.0.0.1")
    assert event["error"] and "pxelinux" in event["description"]
    assert event["description"] == ("TFTP lpxelinux.0 requested by 127.0.0.1: not on this rack;"
                                     " install the Debian package pxelinux on the rack")
    with pytest.raises(TftpError) as err:
        fetch(tftp.port, "lpxelinux.0")
    assert err.value.args == (1, "file not found")
    assert curl_get(tftp.port, "lpxelinux.0").returncode != 0
    assert len(watch.events) == 1  # a looping firmware: one event a minute per client and file

    data = install(watch.root_dir, "lpxelinux.0")  # apt-get install pxelinux, no restart
    out = curl_get(tftp.port, "lpxelinux.0")
    assert out.returncode == 0, out.stderr
    assert out.stdout == data and (watch.cache_dir / "lpxelinux.0").read_bytes() == data
    assert len(watch.events) == 1
    assert [m["name"] for m in status(watch)["missing"]] == ["ldlinux.c32"]


def test_repeated_misses_are_reported_again_after_a_minute(watch, tftp):
    need_tool("curl", "curl")
    for _ in range(3):
        curl_get(tftp.port, "images/ephemeral/amd64/linux")
    assert len(watch.events) == 1
    assert watch.events[0]["description"] == (
        "TFTP images/ephemeral/amd64/linux requested by 127.0.0.1: not on this rack")
    watch.clock.now += 61
    curl_get(tftp.port, "images/ephemeral/amd64/linux")
    assert len(watch.events) == 2


def test_config_probes_are_not_missing_files(watch, tftp):
    need_tool("curl", "curl")
    for name in ("pxelinux.cfg/c0a80a05", "pxelinux.cfg/44454c4c-0000-1000", "grub/x86_64-efi/"
                 "command.lst"):
        assert curl_get(tftp.port, name).returncode != 0
    assert watch.events == []


def test_a_missing_uefi_loader_over_http_is_a_404_an_event_and_degrades_until_installed(
        watch, http):
    url = f"http://127.0.0.1:{http.port}/bootx64.efi"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=10)
    assert err.value.code == 404
    [event] = watch.events
    assert event["type"] == "boot_file_missing" and "shim-signed" in event["description"]
    assert "bootx64.efi (shim-signed)" in read_status_reason(watch.status_file)

    data = install(watch.root_dir, "bootx64.efi")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    assert "bootx64.efi" not in read_status_reason(watch.status_file)
    assert len(watch.events) == 1


def test_an_optional_loader_asked_for_long_ago_no_longer_degrades(watch):
    watch.on_miss("grubx64.efi", "10.0.0.5", "TFTP")
    assert "grubx64.efi (grub-efi-amd64-signed)" in read_status_reason(watch.status_file)
    watch.clock.now += 3601
    watch.refresh()
    assert "grubx64.efi" not in read_status_reason(watch.status_file)


def test_a_long_name_from_the_network_is_cut_to_what_the_region_takes(watch):
    watch.on_miss("images/" + "x" * 3000, "10.0.0.5", "HTTP")
    [event] = watch.events
    assert len(event["path"]) == 512 and len(event["description"]) < 1024
