"""HTTP boot server with urllib, raw sockets and curl."""

import http.client
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from bootsvc.http import BootHttpServer, parse_range
from tests.processes import skip_or_fail, wait_until

MAC = "52:54:00:12:34:56"
SIZE = 1_000_003


def need_curl() -> None:
    if not shutil.which("curl"):
        skip_or_fail("curl is not installed (apt-get install curl)")


def decide(mac):
    if mac == "52:54:00:00:00:09":
        raise RuntimeError("region unreachable")
    action = "local" if mac == "52:54:00:00:00:01" else "deploy"
    return {"mac": mac, "action": action, "hostname": "node1",
            "kernel": "images/ephemeral/amd64/linux",
            "initrd": "images/ephemeral/amd64/initrd.gz", "kernel_params": "console=ttyS0"}


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "cache"
    (root / "images" / "ephemeral" / "amd64").mkdir(parents=True)
    (root / "images" / "ephemeral" / "amd64" / "linux").write_bytes(os.urandom(SIZE))
    (root / "bootx64.efi").write_bytes(os.urandom(5000))
    (root / "empty").write_bytes(b"")
    (root / "evil").symlink_to("/etc/passwd")
    return root


@pytest.fixture
def server(cache):
    events = []
    srv = BootHttpServer(str(cache), decide, on_event=events.append, host="127.0.0.1", port=0)
    srv.port = srv.start()
    srv.events = events
    yield srv
    srv.stop()


def get(server, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def last_event(server, path=None, timeout=2.0):
    """The latest event (of `path`): it is emitted just after the response is written, so the
    client may have read the response before the server thread records it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in server.events if path is None or e["path"] == path]
        if found:
            return found[-1]
        time.sleep(0.01)
    raise AssertionError(f"no event for {path or 'any path'}: {server.events}")


def kernel_bytes(cache):
    return (cache / "images" / "ephemeral" / "amd64" / "linux").read_bytes()


def test_boot_ipxe_chains_to_per_mac_script(server):
    body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ipxe/boot.ipxe").read()
    base = f"http://127.0.0.1:{server.port}"
    assert body.startswith(b"#!ipxe\n")
    assert f"chain {base}/ipxe/${{netX/mac:hexhyp}}.ipxe".encode() in body


@pytest.mark.parametrize("form", ["52-54-00-12-34-56", "52:54:00:12:34:56", "525400123456"])
def test_per_mac_script(server, form):
    body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ipxe/{form}.ipxe").read()
    base = f"http://127.0.0.1:{server.port}"
    assert f"kernel {base}/images/ephemeral/amd64/linux initrd=initrd.gz console=ttyS0".encode() \
        in body
    event = last_event(server)
    assert event["mac"] == MAC and event["type"] == "http_file"


def test_grub_configs_over_http_for_uefi_http_boot(server):
    _, bootstrap = get(server, "/grub/grub.cfg")
    assert b"configfile /grub/grub.cfg-${net_default_mac}" in bootstrap
    _, config = get(server, "/grub/grub.cfg-52:54:00:12:34:56")
    assert b"linux /images/ephemeral/amd64/linux" in config
    event = last_event(server, "grub/grub.cfg-52:54:00:12:34:56")
    assert event["mac"] == MAC
    _, local = get(server, "/grub/grub.cfg-01-52-54-00-00-00-01")
    assert b"chainloader" in local
    resp, _ = get(server, "/grub/grub.cfg-52:54:00:00:00:09")
    assert resp.status == 503


def test_local_script_and_decision_failure(server):
    _, body = get(server, "/ipxe/52-54-00-00-00-01.ipxe")
    assert b"sanboot --no-describe --drive 0x80" in body
    resp, _ = get(server, "/ipxe/52-54-00-00-00-09.ipxe")
    assert resp.status == 503
    resp, _ = get(server, "/ipxe/not-a-mac.ipxe")
    assert resp.status == 404


def test_download_byte_exact_with_urllib(server, cache):
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.port}/images/ephemeral/amd64/linux"
    ) as resp:
        assert resp.status == 200 and resp.headers["Accept-Ranges"] == "bytes"
        assert resp.read() == kernel_bytes(cache)
    event = last_event(server)
    assert event["path"] == "images/ephemeral/amd64/linux" and event["bytes"] == SIZE


def test_download_byte_exact_with_curl(server, cache, tmp_path):
    need_curl()
    out = tmp_path / "k"
    subprocess.run(["curl", "-sSf", "-o", str(out),
                    f"http://127.0.0.1:{server.port}/images/ephemeral/amd64/linux"],
                   check=True, timeout=30)
    assert out.read_bytes() == kernel_bytes(cache)


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, SIZE - 1), ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=10-99999999", 10, SIZE - 1), ("bytes=-99999999", 0, SIZE - 1),
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),
])
def test_range_requests(server, cache, header, start, end):
    resp, body = get(server, "/images/ephemeral/amd64/linux", headers={"Range": header})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert body == kernel_bytes(cache)[start:end + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 9}", "bytes=-0"])
def test_unsatisfiable_range(server, header):
    resp, body = get(server, "/images/ephemeral/amd64/linux", headers={"Range": header})
    assert resp.status == 416 and body == b""
    assert resp.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=9-2", "bytes=abc"])
def test_ignored_ranges_send_everything(server, cache, header):
    resp, body = get(server, "/images/ephemeral/amd64/linux", headers={"Range": header})
    assert resp.status == 200 and body == kernel_bytes(cache)


def test_curl_ranges(server, cache):
    need_curl()
    url = f"http://127.0.0.1:{server.port}/images/ephemeral/amd64/linux"
    out = subprocess.run(["curl", "-sSf", "-r", "1000-1999", url], capture_output=True, timeout=30)
    assert out.stdout == kernel_bytes(cache)[1000:2000]
    code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r",
                           f"{SIZE}-", url], capture_output=True, timeout=30).stdout
    assert code == b"416"


def test_head(server):
    resp, body = get(server, "/images/ephemeral/amd64/linux", method="HEAD")
    assert resp.status == 200 and body == b"" and resp.headers["Content-Length"] == str(SIZE)
    resp, body = get(server, "/ipxe/52-54-00-12-34-56.ipxe", method="HEAD")
    assert resp.status == 200 and body == b"" and int(resp.headers["Content-Length"]) > 0
    assert last_event(server, "ipxe/52-54-00-12-34-56.ipxe")["method"] == "HEAD"


def test_empty_file(server):
    resp, body = get(server, "/empty")
    assert resp.status == 200 and body == b""


@pytest.mark.parametrize("path", [
    "/../etc/passwd", "/images/../../etc/passwd", "/%2e%2e/etc/passwd", "/evil",
    "/images%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/images", "/nothing",
])
def test_traversal_refused(server, path):
    resp, body = get(server, path)
    assert resp.status in (403, 404)
    assert b"root:" not in body
    time.sleep(0.05)
    assert all(event["status"] == 404 and event["bytes"] < 20 for event in server.events)


def test_curl_traversal_refused(server):
    need_curl()
    for path in ("../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "evil"):
        out = subprocess.run(["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w",
                              "%{http_code}", f"http://127.0.0.1:{server.port}/{path}"],
                             capture_output=True, timeout=30)
        assert out.stdout in (b"403", b"404")


def test_keep_alive_and_concurrency(server, cache):
    want = kernel_bytes(cache)

    def fetch_twice(_):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        bodies = []
        for _ in range(2):
            conn.request("GET", "/images/ephemeral/amd64/linux")
            bodies.append(conn.getresponse().read())
        conn.close()
        return bodies

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(fetch_twice, range(20)))
    assert all(b == want for bodies in results for b in bodies)


def test_bad_request_does_not_kill_server(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"\x00\xff garbage\r\n\r\n")
        sock.recv(1000)
    resp, _ = get(server, "/bootx64.efi")
    assert resp.status == 200


def test_parse_range_unit():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=0-", 0) == "416"
    assert parse_range("bytes=-5", 3) == (0, 2)


def test_urllib_404_for_missing(server):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/nope.efi")
    assert err.value.code == 404
    event = last_event(server)
    assert (event["path"], event["status"]) == ("nope.efi", 404)
    assert event["description"] == "HTTP GET nope.efi: 404 Not Found"


def test_transfer_broken_off_by_the_client_is_an_event(server, cache):
    """A client that resets the connection mid-file: the server logs and reports how far it
    got (the boot timeline shows the broken transfer) and keeps serving."""
    big = cache / "big.img"
    with open(big, "wb") as handle:
        handle.truncate(256 << 20)  # sparse: larger than any socket buffer
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big.img HTTP/1.0\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # our ACK of what we read goes out (delayed ACK) before the reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    deadline = time.monotonic() + 10
    while not server.events and time.monotonic() < deadline:
        time.sleep(0.05)
    event = server.events[-1]
    assert event["path"] == "big.img" and event["error"], event
    assert 0 < event["bytes"] < 256 << 20, event
    assert event["description"].startswith("HTTP GET big.img aborted after "), event
    assert f"of {256 << 20} bytes: " in event["description"], event
    resp, body = get(server, "/bootx64.efi")
    assert resp.status == 200 and len(body) == 5000


@pytest.mark.parametrize("size", [64 << 10, 8 << 20])
def test_client_that_stops_taking_data_is_given_up(server, cache, size):
    """A client that stops reading (a boot loader that died mid-file): the transfer is given up
    after its stall timeout with no progress, also when the whole file already sits in the socket's
    buffers, and the event says how much the client acknowledged."""
    server.stall_timeout = 0.5
    (cache / "stuck.img").write_bytes(os.urandom(size))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /stuck.img HTTP/1.0\r\n\r\n")
        deadline = time.monotonic() + 10
        while not server.events and time.monotonic() < deadline:
            time.sleep(0.05)
    event = server.events[-1]
    assert event["path"] == "stuck.img" and "no " in event["error"], event
    assert 0 < event["bytes"] < size, event


def test_a_transfer_given_up_is_reset_and_leaves_no_connection_behind(server, cache):
    """The server resets a connection it gives up on: no orphan keeps retransmitting in
    FIN-WAIT-1 for a rebooted boot loader's SYN (same address and port) to run into."""
    server.stall_timeout = 0.5
    (cache / "stuck.img").write_bytes(os.urandom(8 << 20))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        client_port = sock.getsockname()[1]
        sock.sendall(b"GET /stuck.img HTTP/1.0\r\n\r\n")
        wait_until(lambda: server.events, 10, lambda: "no event")
        with pytest.raises(ConnectionResetError):
            while sock.recv(1 << 16):
                pass
    left = subprocess.run(["ss", "-Htan", f"( sport = :{server.port} and dport = :{client_port} )"],
                          capture_output=True, text=True, check=True).stdout
    assert left.strip() == "", left


def test_a_keep_alive_connection_the_client_resets_ends_quietly(server, capfd):
    """UEFI HTTP boot drops its idle keep-alive connection with a reset between files: the
    server ends it without a traceback and keeps serving."""
    with socket.socket() as sock:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /bootx64.efi HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while len(received) < 5000:  # the whole file, and the server back in its next read
            received += sock.recv(1 << 16)
        assert received.startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)  # the server's read of the next request meets the reset
    resp, _ = get(server, "/ipxe/boot.ipxe")
    assert resp.status == 200
    assert "Traceback" not in capfd.readouterr().err


def server_time_waits(server) -> str:
    """The server side's connections in TIME_WAIT (both ends are on loopback)."""
    return subprocess.run(["ss", "-Htan", "state", "time-wait", f"( sport = :{server.port} )"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("close_wait", [2.0, 0.0])
def test_the_client_closes_first_so_the_time_wait_is_the_clients(server, close_wait):
    """After the last response the server waits for the client's FIN before it closes: the
    TIME_WAIT stays with the client, and a boot loader that starts its port numbers over on the
    next boot (lpxelinux's lwIP) meets none on the rack. Without the wait the server keeps it:
    there the client reads to EOF, since a client closing on the Content-Length may race the
    server's close and win, and then it keeps the TIME_WAIT even though the server did not wait."""
    server.client_close_wait = close_wait
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /bootx64.efi HTTP/1.0\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < 5000:
                received += sock.recv(1 << 16)  # Content-Length read: the client closes
            while close_wait == 0 and sock.recv(1 << 16):
                pass  # the server closes first, without waiting
    time.sleep(0.3)
    left = server_time_waits(server)
    assert (left == "") == (close_wait > 0), left


def read_to_eof(server, headers: bytes) -> tuple[bytes, float]:
    """GET /bootx64.efi over HTTP/1.0 and read until the server closes: (body, seconds)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /bootx64.efi HTTP/1.0\r\n" + headers + b"\r\n")
        started, received = time.monotonic(), b""
        while chunk := sock.recv(1 << 16):
            received += chunk
        return received.split(b"\r\n\r\n", 1)[1], time.monotonic() - started


def test_a_client_that_reads_to_the_end_gets_it_after_the_bounded_wait(server):
    """A client that waits for the server to close (reads to EOF) gets the whole file and the
    end of the connection once the wait is over, not the stall or keep-alive timeout."""
    server.client_close_wait = 0.3
    body, waited = read_to_eof(server, b"")
    assert len(body) == 5000
    assert 0.25 < waited < 3, waited


def test_syslinux_which_reads_to_the_end_is_not_kept_waiting(server):
    """lpxelinux reads until the server closes: it gets the close at once, not after the wait."""
    server.client_close_wait = 5.0
    body, waited = read_to_eof(server, b"User-Agent: Syslinux/6.04\r\n")
    assert len(body) == 5000
    assert waited < 2, waited
