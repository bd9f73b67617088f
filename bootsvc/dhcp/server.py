"""The asyncio DHCP server: UDP socket on one interface, housekeeping, batched reporting."""
import asyncio
import contextlib
import logging
import socket
import time

from bootsvc.dhcp.batching import Batcher
from bootsvc.dhcp.config import DhcpConfig
from bootsvc.dhcp.handler import DhcpHandler, ip_str
from bootsvc.dhcp.leases import Lease, LeaseStore
from bootsvc.dhcp.packet import format_mac

log = logging.getLogger(__name__)
SYNC_INTERVAL = 0.1  # journal fsync batching
EXPIRE_INTERVAL = 1.0


def lease_dict(item: tuple) -> dict:
    mac, ip, hostname, expires, state = item
    return {"mac": format_mac(mac), "ip": ip_str(ip), "hostname": hostname,
            "expires": int(expires), "state": state}


def event_dict(item: tuple) -> dict:
    mac, kind, description, when, fields = item
    return {"mac": format_mac(mac), "type": kind, "description": description, "time": when,
            **(fields or {})}


def open_socket(interface: str | None, port: int = 67) -> socket.socket:
    """UDP 0.0.0.0:port bound to interface, allowed to broadcast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    if interface:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
    sock.bind(("0.0.0.0", port))
    sock.setblocking(False)
    return sock


class DhcpServer(asyncio.DatagramProtocol):
    """DHCP on one interface; report(leases) and events(events) receive batches of dicts."""

    def __init__(self, config: DhcpConfig, interface: str | None, server_ip: str,
                 state_dir: str | None = None, report=None, events=None, port: int = 67,
                 clock=time.time):
        self.interface, self.server_ip, self.port = interface, server_ip, port
        self.leases = LeaseStore(state_dir, clock=clock)
        self.lease_batcher = Batcher(report, convert=lease_dict, key=lambda item: item[0])
        self.event_batcher = Batcher(events, convert=event_dict)
        self.handler = DhcpHandler(config, server_ip, self.leases, emit=self._emit,
                                   report=self._report, clock=clock)
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: list[asyncio.Task] = []
        self._clock = clock

    @property
    def counters(self):
        return self.handler.counters

    def _emit(self, mac: bytes, kind: str, description: str, fields: dict | None = None) -> None:
        if self.event_batcher.callback is not None:
            self.event_batcher.add((mac, kind, description, self._clock(), fields))

    def _report(self, lease: Lease, state: str) -> None:
        if self.lease_batcher.callback is not None:
            self.lease_batcher.add((lease.mac, lease.ip, lease.hostname, lease.expires, state))

    def update_config(self, config: DhcpConfig) -> None:
        """Apply a new configuration now, keeping every lease."""
        self.handler.update_config(config)
        self.counters["config_updates"] += 1

    # -- asyncio protocol ------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        result = self.handler.handle(data)
        if result is not None:
            try:
                self.transport.sendto(result[0], result[1])
                self.counters["sent"] += 1
            except OSError as exc:
                self.counters["send_errors"] += 1
                log.debug("sendto %s failed: %s", result[1], exc)

    def error_received(self, exc) -> None:
        self.counters["socket_errors"] += 1

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = open_socket(self.interface, self.port)
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._tasks = [loop.create_task(coro) for coro in (
            self._housekeeping(), self.lease_batcher.run(), self.event_batcher.run())]
        log.info("DHCP listening on %s (%s) port %d", self.interface, self.server_ip, self.port)

    async def _housekeeping(self) -> None:
        last_expire = 0.0
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                if self.leases.journal:
                    self.leases.journal.sync()
                now = time.monotonic()
                if now - last_expire >= EXPIRE_INTERVAL:
                    last_expire = now
                    for lease in self.leases.expire():
                        self._report(lease, "expired")
                    if self.leases.needs_compaction():
                        self.leases.compact()
            except Exception:
                log.exception("DHCP housekeeping failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.lease_batcher.flush()
        await self.event_batcher.flush()
        if self.transport:
            self.transport.close()
        if self.leases.journal:
            self.leases.journal.close()
