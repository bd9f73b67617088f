"""HTTP boot server (:5248): iPXE scripts rendered live, images and loaders from the cache."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import select
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from bootsvc import bootconfig
from bootsvc.tftp import GRUB_MAC, normalise_name, served_path

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_IPXE_MAC = re.compile(r"^ipxe/([0-9A-Fa-f:-]{12,17})\.ipxe$")
STALL_TIMEOUT = 30.0  # default seconds a client may take no data before its transfer is given up
ACK_POLL = 0.02  # seconds between looks at what the client has acknowledged
# Seconds to wait, after the last response, for the client to close first: the side that closes
# first keeps the connection in TIME_WAIT. iPXE and curl close at Content-Length, well within it.
CLIENT_CLOSE_WAIT = 2.0
# Clients that read to the end of the connection whatever Content-Length says: waiting for them
# to close first would only delay them. lpxelinux (lwIP) is one, so its TIME_WAITs stay on the
# rack, and a netboot within a minute of the last one still waits 3 s per file (its lwIP starts
# ports and sequence numbers over): the `ipxe` BIOS boot loader avoids that.
READS_TO_EOF = ("Syslinux/",)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive) for one `bytes=` range; None to send it all; "416" if unsatisfiable.

    Several ranges or a malformed header are ignored (the whole file is sent, as RFC 9110 allows).
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # bytes=-n: the last n bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else "416"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignore
    if start >= size:
        return "416"
    return start, end


class BootHttpServer(ThreadingHTTPServer):
    """A threading HTTP server holding the boot-service parameters (no global state)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        cache_dir: str,
        decide: Callable[[str | None], dict],
        on_event: Callable[[dict], None] | None = None,
        host: str = bootconfig.ALL_INTERFACES,
        port: int = bootconfig.DEFAULT_HTTP_PORT,
        http_host: str | None = None,
        stall_timeout: float = STALL_TIMEOUT,
        on_miss: Callable[[str, str, str], bool] | None = None,
        client_close_wait: float = CLIENT_CLOSE_WAIT,
        metrics=None,
    ):
        self.cache_dir = os.path.realpath(cache_dir)
        if not os.path.isdir(self.cache_dir):
            raise ValueError(f"cache dir {cache_dir} is not a directory")
        self.decide, self.on_event, self.http_host = decide, on_event, http_host
        self.stall_timeout, self.on_miss = stall_timeout, on_miss
        self.client_close_wait = client_close_wait
        self.metrics = metrics  # bootsvc.metrics.RackMetrics: GET /metrics; None: 404
        super().__init__((host, port), BootHttpHandler)

    def start(self) -> int:
        """Serve in a daemon thread; returns the bound port."""
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="http-boot", daemon=True
        )
        self._thread.start()
        return self.server_address[1]

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()

    def emit(self, event: dict) -> None:
        """Pass an event to on_event; a failing callback never breaks a response."""
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001
            log.exception("HTTP boot: on_event failed")


class BootHttpHandler(BaseHTTPRequestHandler):
    """GET and HEAD for /ipxe/boot.ipxe, /ipxe/<mac>.ipxe and files in the cache."""

    server: BootHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "bootsvc"
    timeout = 60
    aborted = False  # a transfer broke off: the connection is reset, not closed

    def handle(self) -> None:
        """Serve the connection's requests, then let the client close first."""
        super().handle()
        agent = self.headers.get("User-Agent", "") if getattr(self, "headers", None) else ""
        if not self.aborted and not agent.startswith(READS_TO_EOF):
            wait_for_client_close(self.connection, self.server.client_close_wait)

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        """A client that drops an idle keep-alive connection (UEFI's HTTP boot does, between
        files) ends it quietly, not with a traceback in the rack's log."""
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            self.close_connection = True

    def do_HEAD(self):  # noqa: N802
        self._serve(head=True)

    def do_GET(self):  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        try:
            raw = unquote(urlsplit(self.path).path)
            name = normalise_name(raw)
            if name is None:
                self._send_text(HTTPStatus.FORBIDDEN, "forbidden\n", head)
                return
            if name == "metrics" and self.server.metrics is not None:
                self._send_metrics(head)
            elif name == "ipxe/boot.ipxe":
                self._send_text(HTTPStatus.OK, bootconfig.render_ipxe_bootstrap(self._base()), head,
                                event={"path": name})
            elif m := _IPXE_MAC.match(name):
                self._serve_config("ipxe", name, m.group(1), head)
            elif name == "grub/grub.cfg":  # the same GRUB configs as TFTP renders
                self._send_text(HTTPStatus.OK, bootconfig.render_grub_bootstrap(), head,
                                event={"path": name})
            elif m := GRUB_MAC.match(name):
                self._serve_config("grub", name, m.group(1), head)
            else:
                self._serve_file(name, head)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _send_metrics(self, head: bool) -> None:
        """The rack's metrics (bootsvc.metrics): no boot event, not a boot file."""
        status, body, content_type = self.server.metrics.answer(
            self.headers.get("Authorization", ""), self.client_address[0])
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _base(self) -> str:
        host = self.server.http_host or self.connection.getsockname()[0]
        return bootconfig.http_base(host, self.server.server_address[1])

    def _serve_config(self, loader: str, name: str, raw_mac: str, head: bool) -> None:
        mac = bootconfig.normalise_mac(raw_mac)
        if mac is None:
            self._send_text(HTTPStatus.NOT_FOUND, "not a MAC address\n", head)
            return
        try:
            script = bootconfig.render(loader, self.server.decide(mac), self._base())
        except Exception:  # noqa: BLE001 - no decision: tell iPXE, keep serving
            log.exception("HTTP boot: cannot render %s", name)
            self._send_text(HTTPStatus.SERVICE_UNAVAILABLE, "no boot decision\n", head)
            return
        self._send_text(HTTPStatus.OK, script, head, event={"path": name, "mac": mac})

    def _send_text(self, status: int, text: str, head: bool, event: dict | None = None) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)
        if event is not None:
            self._event(event, status, 0 if head else len(body))

    def _event(self, event: dict, status: int, sent: int, expected: int | None = None,
               error: str = "") -> None:
        path, method = event["path"], self.command
        if error:
            description = f"HTTP {method} {path} aborted after {sent} of {expected} bytes: {error}"
        elif status >= 400:
            description = f"HTTP {method} {path}: {int(status)} {HTTPStatus(status).phrase}"
        else:
            description = f"HTTP {method} {path} ({sent} bytes)"
        self.server.emit({
            "type": "http_file", "mac": event.get("mac"), "path": path, "status": int(status),
            "method": method, "client": self.client_address[0], "bytes": sent,
            "error": error, "time": time.time(), "description": description,
        })

    def _serve_file(self, name: str, head: bool) -> None:
        path = served_path(self.server.cache_dir, name)
        on_miss = self.server.on_miss
        if path is None and on_miss is not None and on_miss(name, self.client_address[0], "HTTP"):
            path = served_path(self.server.cache_dir, name)  # a loader installed since
        if path is None:  # an event too: a missing kernel is a step the timeline must show
            # (on_miss reports it itself, once a minute per client and file)
            event = None if on_miss is not None else {"path": name}
            self._send_text(HTTPStatus.NOT_FOUND, "not found\n", head, event=event)
            return
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            rng = parse_range(self.headers.get("Range"), size)
            if rng == "416":
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = rng if rng else (0, size - 1)
            count = end - start + 1 if size else 0
            status = HTTPStatus.PARTIAL_CONTENT if rng else HTTPStatus.OK
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(count))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            sent, error = (0, "") if head or count == 0 else self._sendfile(f, start, count)
        self._event({"path": name}, status, sent, count, error)

    def _sendfile(self, f, offset: int, count: int) -> tuple[int, str]:
        """Send `count` bytes of `f` from `offset` with sendfile(2) and wait until the client has
        acknowledged them: (bytes delivered, error or "").

        Counted call by call, so a transfer the client breaks off reports how far it got: a boot
        loader that dies mid-kernel (lpxelinux's lwIP now and then) must not look served.
        """
        sent, stall = 0, self.server.stall_timeout
        writable = select.poll()
        writable.register(self.connection, select.POLLOUT)
        try:
            self.wfile.flush()
            while sent < count:
                if not writable.poll(stall * 1000):
                    raise TimeoutError(errno.ETIMEDOUT, f"no progress for {stall:g} s")
                try:
                    chunk = os.sendfile(self.connection.fileno(), f.fileno(), offset + sent,
                                        count - sent)
                except BlockingIOError:
                    continue
                if chunk == 0:
                    return sent, "the file shrank while it was sent"
                sent += chunk
            wait_until_acknowledged(self.connection, stall)
        except OSError as exc:  # reset, broken pipe, no progress within the stall timeout
            sent = max(0, sent - unacknowledged(self.connection))  # what the client has
            abort_on_close(self.connection)
            self.aborted = True
            reason = exc.strerror or type(exc).__name__
            log.warning("HTTP %s to %s aborted after %d of %d bytes: %s",
                        self.path, self.client_address[0], sent, count, reason)
            return sent, reason
        finally:
            if sent < count:  # the response is broken: never reuse the connection
                self.close_connection = True
        return sent, ""


def abort_on_close(sock: socket.socket) -> None:
    """Make close() reset the connection and forget it at once, unsent data and all.

    A graceful close would leave an orphan in FIN-WAIT-1 retransmitting to a client that is
    gone. A rebooted lpxelinux reuses the same source port (lwIP's port counter starts over),
    its SYN meets that orphan, and its HTTP load fails again ("Boot failed"), boot after boot.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


def unacknowledged(sock: socket.socket) -> int:
    """Bytes written to a TCP socket that its peer has not acknowledged yet (SIOCOUTQ); 0 once
    the socket is closed."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
    except (OSError, ValueError):
        return 0


def wait_until_acknowledged(sock: socket.socket, stall_timeout: float) -> None:
    """Return once the peer has acknowledged all it was sent; TimeoutError if it stops doing so
    for `stall_timeout` seconds."""
    last, progressed = -1, time.monotonic()
    while (queued := unacknowledged(sock)) > 0:
        if queued != last:
            last, progressed = queued, time.monotonic()
        elif time.monotonic() - progressed > stall_timeout:
            raise TimeoutError(errno.ETIMEDOUT, f"no acknowledgement for {stall_timeout:g} s")
        time.sleep(ACK_POLL)


def wait_for_client_close(sock: socket.socket, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the client's FIN (anything else it sends is dropped):
    True if it closed, so that the TIME_WAIT is the client's and the rack closes second."""
    deadline = time.monotonic() + timeout
    readable = select.poll()
    readable.register(sock, select.POLLIN)
    try:
        while (left := deadline - time.monotonic()) > 0:
            if readable.poll(left * 1000) and not sock.recv(65536):
                return True
    except OSError:  # reset by the client: nothing lingers either
        return True
    return False
