"""`python -m bootsvc --bind ADDRESS` (or BOOTSVC_BIND): TFTP and HTTP boot listen there only."""
import json
import socket

import pytest

from bootsvc.__main__ import parse_args
from bootsvc.region import RegionClient
from tests.bootsvc.test_tftp import rrq_packet
from tests.processes import free_tcp_port, free_udp_port, start, stop, wait_until

OTHER_LOOPBACK = "127.0.0.2"  # loopback too, but not the address bootsvc was told


def http_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            sock.sendall(b"GET /no-such-file HTTP/1.0\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def tftp_answers(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.5)
        # Not connected: the server answers from a port of its own (a new transfer id).
        sock.sendto(rrq_packet("no-such-file"), (address, port))
        try:
            return sock.recv(516)[:2] in (b"\0\3", b"\0\5")  # DATA or ERROR: it answered
        except OSError:  # timed out: nothing listens there
            return False


def credentials(tmp_path) -> str:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"system_id": "abc123", "token": "t"}))
    return str(path)


def run_bootsvc(tmp_path, name: str, *args: str, **env: str):
    """bootsvc without DHCP (its region unreachable: TFTP and HTTP need none to listen)."""
    http_port, tftp_port, log = free_tcp_port(), free_udp_port(), tmp_path / f"{name}.log"
    proc = start(["-m", "bootsvc", "--region-url", f"http://127.0.0.1:{free_tcp_port()}/",
                  "--credentials", credentials(tmp_path), "--http-port", str(http_port),
                  "--tftp-port", str(tftp_port), "--no-dhcp", *args], log,
                 VAR_DIR=str(tmp_path / name), **env)
    wait_until(lambda: proc.poll() is None and "boot services up" in log.read_text(), 30,
               log.read_text)
    return proc, http_port, tftp_port, log


@pytest.mark.integration
@pytest.mark.parametrize("how", ["--bind", "BOOTSVC_BIND"])
def test_bound_to_one_address_it_answers_there_only(tmp_path, how):
    args, env = (["--bind", "127.0.0.1"], {}) if how == "--bind" else ([], {
        "BOOTSVC_BIND": "127.0.0.1"})
    proc, http_port, tftp_port, log = run_bootsvc(tmp_path, "bound", *args, **env)
    try:
        assert "HTTP 127.0.0.1:" in log.read_text()
        assert http_answers("127.0.0.1", http_port), log.read_text()
        assert tftp_answers("127.0.0.1", tftp_port), log.read_text()
        assert not http_answers(OTHER_LOOPBACK, http_port)
        assert not tftp_answers(OTHER_LOOPBACK, tftp_port)
    finally:
        stop(proc)


@pytest.mark.integration
def test_by_default_it_answers_on_every_address(tmp_path):
    proc, http_port, tftp_port, log = run_bootsvc(tmp_path, "all", BOOTSVC_BIND="")
    try:
        assert "HTTP 0.0.0.0:" in log.read_text()
        for address in ("127.0.0.1", OTHER_LOOPBACK):
            assert http_answers(address, http_port), (address, log.read_text())
            assert tftp_answers(address, tftp_port), (address, log.read_text())
    finally:
        stop(proc)


def test_parse_args_takes_bind_from_the_flag_or_the_environment(tmp_path, monkeypatch):
    base = ["--region-url", "http://r/", "--credentials", credentials(tmp_path)]
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("BOOTSVC_BIND", raising=False)
    assert parse_args(base).bind == "0.0.0.0"
    monkeypatch.setenv("BOOTSVC_BIND", "127.0.0.1")
    assert parse_args(base).bind == "127.0.0.1"
    assert parse_args([*base, "--bind", "10.0.0.1"]).bind == "10.0.0.1"
    assert parse_args([*base, "--bind", "localhost"]).bind.startswith("127.")
    with pytest.raises(SystemExit):
        parse_args([*base, "--bind", "no-such-host.invalid"])


def test_parse_args_takes_every_region_rackd_knows(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RACK_REGION_URL", "http://a/")
    monkeypatch.setenv("RACK_REGION_URLS", "http://a/,http://b/")
    options = parse_args(["--credentials", credentials(tmp_path)])
    assert RegionClient(options.region_url).urls == ["http://a/", "http://b/"]
