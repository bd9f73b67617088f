"""TFTP boot server: boot loaders from the image cache, per-MAC configs rendered live (tftpy)."""

from __future__ import annotations

import io
import logging
import os
import re
import select
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tftpy import TftpContexts, TftpPacketTypes, TftpShared, TftpStates
from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpServer import TftpServer

from bootsvc import bootconfig
from bootsvc.loaders import imported_path, resolve_file

log = logging.getLogger(__name__)

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python 3.11 does not export it
MAX_BLKSIZE = 65464  # RFC 2348: larger blocks do not fit a UDP datagram
ERR_NOT_FOUND, ERR_ACCESS, ERR_ILLEGAL, ERR_UNKNOWN_TID = 1, 2, 4, 5
_MAC = r"[0-9A-Fa-f]{2}(?:[:-]?[0-9A-Fa-f]{2}){5}"
_PXELINUX_MAC = re.compile(rf"^pxelinux\.cfg/01-({_MAC})$")
GRUB_MAC = re.compile(rf"^grub/grub\.cfg-(?:01-)?({_MAC})$")


@dataclass
class Resolved:
    """Where a requested name leads: a file in the cache or a rendered config."""

    name: str
    path: str | None = None
    loader: str | None = None
    mac: str | None = None
    data: bytes | None = None


def normalise_name(name: str) -> str | None:
    """The root-relative name for a request, or None when it must be refused.

    A leading `/` means the TFTP root (GRUB asks for `/grub/...`), as with tftp-hpa `-s`:
    `/etc/passwd` is `<root>/etc/passwd`. `..` anywhere and control characters are refused.
    """
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def served_path(root: str, name: str) -> str | None:
    """The file served as `name`: the region's imported loader of that name first
    (bootsvc.loaders), else `name` under `root`."""
    return imported_path(root, name) or resolve_file(root, name)


def error_packet(code: int, message: str) -> bytes:
    """A TFTP ERROR packet."""
    return struct.pack("!HH", 5, code) + message.encode("ascii", "replace")[:200] + b"\0"


def sanitise_options(options: dict) -> dict:
    """The options we answer (blksize, tsize), validated; the rest are dropped."""
    accepted = {}
    for key, value in options.items():
        key = key.lower()
        if key == "blksize" and value.isdigit():
            accepted["blksize"] = str(min(max(int(value), 8), MAX_BLKSIZE))
        elif key == "tsize" and value.isdigit():
            accepted["tsize"] = "0"
    return accepted


class BootTftpServer(TftpServer):
    """tftpy's server with a hardened receive loop: never stops on a bad packet.

    `decide(mac)` returns the boot decision dict (mac None for `pxelinux.cfg/default`);
    `on_event(dict)` is called for every file served in full; `on_miss(name, client, "TFTP")`
    for a file not in the cache, and True from it means look again (bootsvc.loaders).
    """

    def __init__(
        self,
        cache_dir: str,
        decide: Callable[[str | None], dict],
        on_event: Callable[[dict], None] | None = None,
        http_port: int = bootconfig.DEFAULT_HTTP_PORT,
        http_host: str | None = None,
        timeout: float = 1.0,
        retries: int = 5,
        on_miss: Callable[[str, str, str], bool] | None = None,
    ):
        self.cache_dir = os.path.realpath(cache_dir)
        if not os.path.isdir(self.cache_dir):
            raise ValueError(f"cache dir {cache_dir} is not a directory")
        # tftpy opens files under its root itself; an empty private root makes every request
        # go through _open, which applies our own checks.
        self._empty_root = tempfile.mkdtemp(prefix="bootsvc-tftp-")
        super().__init__(self._empty_root, dyn_file_func=self._open)
        self.decide, self.on_event, self.on_miss = decide, on_event, on_miss
        self.http_port, self.http_host = http_port, http_host
        self.timeout, self.retries = timeout, retries
        self._by_sock: dict[socket.socket, str] = {}
        self._resolved: dict[str, Resolved] = {}
        self._local_ip = "127.0.0.1"
        self._factory = TftpPacketFactory()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        # Transfers ended by an error or a timeout after data went out (bootsvc.metrics): a
        # client that stops after the size query (tsize, then an error packet) is not one.
        self.broken_transfers = 0
        tftpy_log = logging.getLogger("tftpy")
        if tftpy_log.level == logging.NOTSET:
            tftpy_log.setLevel(logging.WARNING)  # tftpy logs every packet at INFO/DEBUG

    # -- lifecycle ---------------------------------------------------------------------------

    def bind(self, host: str = bootconfig.ALL_INTERFACES, port: int = 69) -> int:
        """Bind the listening socket; returns the port (useful with port 0)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.listenip, self.listenport = self.sock.getsockname()
        return self.listenport

    def listen(self, listenip=bootconfig.ALL_INTERFACES, listenport=69, timeout=None,
               retries=None):
        """Serve until stop(); binds first unless bind() was called."""
        if self.sock is None:
            self.bind(listenip or bootconfig.ALL_INTERFACES, listenport)
        self.is_running.set()
        try:
            while not self._stop:
                self._loop_once()
        finally:
            self._close_all()
            self.is_running.clear()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and serve in a daemon thread; returns the port."""
        port = self.bind(host, port)
        self._thread = threading.Thread(target=self.listen, name="tftp", daemon=True)
        self._thread.start()
        self.is_running.wait(5)
        return port

    def stop(self, now: bool = True) -> None:
        """Stop serving (dropping transfers in progress) and wait for the loop to end."""
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # the loop saw _stop on its own and closed its sockets: nothing to wake
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _close_all(self) -> None:
        for key in list(self.sessions):
            self._end(key)
        for sock in (self.sock, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        shutil.rmtree(self._empty_root, ignore_errors=True)

    # -- the loop ----------------------------------------------------------------------------

    def _loop_once(self) -> None:
        socks = [self.sock, self._wake_r, *self._by_sock]
        try:
            ready, _, _ = select.select(socks, [], [], min(self.timeout, 0.5))
        except (OSError, ValueError):  # a session socket closed under us
            ready = []
        for sock in ready:
            try:
                if sock is self.sock:
                    self._on_request()
                elif sock is self._wake_r:
                    sock.recv(64)
                elif sock in self._by_sock:
                    self._on_session_packet(self._by_sock[sock])
            except Exception:  # noqa: BLE001 - the loop must survive anything one packet does
                log.exception("TFTP: error handling a packet")
        self._check_timeouts(time.time())

    def _recv_request(self) -> tuple[bytes, tuple[str, int], str] | None:
        try:
            data, anc, _, addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
        except (BlockingIOError, InterruptedError):
            return None
        local_ip = self.listenip if self.listenip != bootconfig.ALL_INTERFACES else "127.0.0.1"
        for level, kind, cdata in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= 12:
                local_ip = socket.inet_ntoa(cdata[8:12])  # ipi_addr: the header destination
        return data, addr[:2], local_ip

    def _on_request(self) -> None:
        received = self._recv_request()
        if received is None:
            return
        data, addr, local_ip = received
        key = f"{addr[0]}:{addr[1]}"
        if key in self.sessions:
            return  # a retransmitted RRQ: the session already answers
        try:
            pkt = self._factory.parse(data)
        except Exception:  # noqa: BLE001 - garbage from the network
            log.debug("TFTP: unparseable request from %s", key)
            return
        if isinstance(pkt, TftpPacketTypes.TftpPacketWRQ):
            self._reply_error(local_ip, addr, ERR_ACCESS, "read-only server")
        elif isinstance(pkt, TftpPacketTypes.TftpPacketRRQ):
            self._start_read(pkt, addr, local_ip)

    def _reply_error(self, local_ip: str, addr: tuple[str, int], code: int, msg: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((local_ip, 0))
            sock.sendto(error_packet(code, msg), addr)

    def _start_read(self, pkt, addr: tuple[str, int], local_ip: str) -> None:
        name = normalise_name(pkt.filename)
        if name is None:
            log.warning("TFTP: refused %r from %s", pkt.filename, addr[0])
            self._reply_error(local_ip, addr, ERR_ACCESS, "access violation")
            return
        resolved = self._resolve(name, local_ip)
        if resolved is None and self.on_miss is not None and self.on_miss(name, addr[0], "TFTP"):
            resolved = self._resolve(name, local_ip)  # a loader installed since: seeded now
        if resolved is None:
            self._reply_error(local_ip, addr, ERR_NOT_FOUND, "file not found")
            return
        key = f"{addr[0]}:{addr[1]}"
        pkt.filename, pkt.options = name, sanitise_options(pkt.options)
        ctx = TftpContexts.TftpContextServer(
            addr[0], addr[1], self.timeout, self.root, self._open, None,
            retries=self.retries, flock=False,
        )
        ctx.sock.close()
        ctx.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ctx.sock.bind((local_ip, 0))  # reply from the address the client asked
        ctx.sock.settimeout(self.timeout)
        self.sessions[key], self._by_sock[ctx.sock] = ctx, key
        self._resolved[key] = resolved
        ctx.metrics.start_time = ctx.last_update = time.time()
        self._handle(key, lambda: TftpStates.TftpStateServerRecvRRQ(ctx).handle(pkt, *addr))

    def _on_session_packet(self, key: str) -> None:
        ctx = self.sessions[key]
        try:
            data, raddr = ctx.sock.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # e.g. ICMP port unreachable: the client has gone
            self._end(key)
            return
        if (raddr[0], raddr[1]) != (ctx.host, ctx.tidport):
            ctx.sock.sendto(error_packet(ERR_UNKNOWN_TID, "unknown transfer id"), raddr)
            return
        try:
            pkt = self._factory.parse(data)
        except Exception:  # noqa: BLE001 - ignore a corrupt packet, keep the transfer
            return
        ctx.last_update = time.time()
        ctx.timeout_expectACK = False
        self._handle(key, lambda: ctx.state.handle(pkt, raddr[0], raddr[1]))

    def _handle(self, key: str, step: Callable[[], object]) -> None:
        ctx = self.sessions[key]
        try:
            ctx.state = step()
            ctx.retry_count = 0
        except TftpShared.TftpTimeoutExpectACK:
            ctx.timeout_expectACK = True
            return
        except Exception as exc:  # noqa: BLE001 - end this transfer, not the server
            log.info("TFTP: transfer %s ended: %s", key, exc)
            self.broken_transfers += bool(ctx.metrics.bytes)
            self._end(key)
            return
        if ctx.state is None:
            self._finished(key)

    def _check_timeouts(self, now: float) -> None:
        for key, ctx in list(self.sessions.items()):
            if not ctx.timeout_expectACK and now - ctx.last_update <= self.timeout:
                continue
            ctx.timeout_expectACK = False
            ctx.retry_count += 1
            if ctx.retry_count >= self.retries or ctx.state is None:
                log.info("TFTP: transfer %s timed out", key)
                self.broken_transfers += bool(ctx.metrics.bytes)
                self._end(key)
                continue
            try:
                ctx.state.resendLast()
            except Exception:  # noqa: BLE001
                self._end(key)
                continue
            ctx.last_update = now

    def _finished(self, key: str) -> None:
        ctx, resolved = self.sessions[key], self._resolved[key]
        ctx.metrics.end_time = time.time()
        event = {
            "type": "tftp_file", "mac": resolved.mac, "path": resolved.name,
            "client": ctx.host, "bytes": ctx.metrics.bytes, "time": time.time(),
            "description": f"TFTP {resolved.name} ({ctx.metrics.bytes} bytes) to {ctx.host}",
        }
        self._end(key)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001
                log.exception("TFTP: on_event failed")

    def _end(self, key: str) -> None:
        ctx = self.sessions.pop(key, None)
        self._resolved.pop(key, None)
        if ctx is None:
            return
        self._by_sock.pop(ctx.sock, None)
        ctx.sock.close()
        if ctx.fileobj is not None and not ctx.fileobj.closed:
            ctx.fileobj.close()

    # -- files -------------------------------------------------------------------------------

    def _resolve(self, name: str, local_ip: str) -> Resolved | None:
        """Find `name`: rendered configs first, then regular files inside the cache dir."""
        loader, mac = None, None
        if m := _PXELINUX_MAC.match(name):
            loader, mac = "pxelinux", bootconfig.normalise_mac(m.group(1))
        elif name == "pxelinux.cfg/default":
            loader = "pxelinux"
        elif m := GRUB_MAC.match(name):
            loader, mac = "grub", bootconfig.normalise_mac(m.group(1))
        elif name == "grub/grub.cfg":
            return Resolved(name, data=bootconfig.render_grub_bootstrap().encode())
        if loader is None:
            path = served_path(self.cache_dir, name)
            return Resolved(name, path=path) if path else None
        try:
            decision = self.decide(mac)
            base = bootconfig.http_base(self.http_host or local_ip, self.http_port)
            text = bootconfig.render(loader, decision, base)
        except Exception:  # noqa: BLE001 - no decision means no config
            log.exception("TFTP: cannot render %s", name)
            return None
        return Resolved(name, loader=loader, mac=mac, data=text.encode())

    def _open(self, name: str, raddress: str, rport: int, **_):
        resolved = self._resolved.get(f"{raddress}:{rport}")
        if resolved is None:
            return None
        if resolved.data is not None:
            return io.BytesIO(resolved.data)
        try:
            return open(resolved.path, "rb")  # noqa: SIM115 - tftpy closes it
        except OSError:
            return None
