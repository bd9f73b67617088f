"""HTTP boot server (:5248): iPXE scripts rendered live, images and loaders from the cache."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from bootsvc import bootconfig
from bootsvc.tftp import normalise_name, resolve_file

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_IPXE_MAC = re.compile(r"^ipxe/([0-9A-Fa-f:-]{12,17})\.ipxe$")


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
        host: str = "0.0.0.0",
        port: int = bootconfig.DEFAULT_HTTP_PORT,
        http_host: str | None = None,
    ):
        self.cache_dir = os.path.realpath(cache_dir)
        if not os.path.isdir(self.cache_dir):
            raise ValueError(f"cache dir {cache_dir} is not a directory")
        self.decide, self.on_event, self.http_host = decide, on_event, http_host
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

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s %s", self.address_string(), format % args)

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
            if name == "ipxe/boot.ipxe":
                self._send_text(HTTPStatus.OK, bootconfig.render_ipxe_bootstrap(self._base()), head,
                                event={"path": name})
            elif m := _IPXE_MAC.match(name):
                self._serve_script(name, m.group(1), head)
            else:
                self._serve_file(name, head)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _base(self) -> str:
        host = self.server.http_host or self.connection.getsockname()[0]
        return bootconfig.http_base(host, self.server.server_address[1])

    def _serve_script(self, name: str, raw_mac: str, head: bool) -> None:
        mac = bootconfig.normalise_mac(raw_mac)
        if mac is None:
            self._send_text(HTTPStatus.NOT_FOUND, "not a MAC address\n", head)
            return
        try:
            script = bootconfig.render_ipxe(self.server.decide(mac), self._base())
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

    def _event(self, event: dict, status: int, sent: int) -> None:
        path = event["path"]
        self.server.emit({
            "type": "http_file", "mac": event.get("mac"), "path": path, "status": int(status),
            "method": self.command, "client": self.client_address[0], "bytes": sent,
            "time": time.time(), "description": f"HTTP {self.command} {path} ({sent} bytes)",
        })

    def _serve_file(self, name: str, head: bool) -> None:
        path = resolve_file(self.server.cache_dir, name)
        if path is None:
            self._send_text(HTTPStatus.NOT_FOUND, "not found\n", head)
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
            self.send_response(HTTPStatus.PARTIAL_CONTENT if rng else HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(count))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            sent = 0 if head or count == 0 else self._sendfile(f, start, count)
        status = HTTPStatus.PARTIAL_CONTENT if rng else HTTPStatus.OK
        self._event({"path": name}, status, sent)

    def _sendfile(self, f, offset: int, count: int) -> int:
        """Send `count` bytes of `f` from `offset` with sendfile(2)."""
        self.wfile.flush()
        sent = self.connection.sendfile(f, offset, count)
        if sent < count:  # the file shrank under us: the response is broken
            self.close_connection = True
        return sent
