"""The asyncio DHCP server: UDP socket on one interface read in batches, leases fsynced before
the replies (group commit), housekeeping, batched reporting."""
import asyncio
import contextlib
import itertools
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from bootsvc.dhcp.batching import Batcher
from bootsvc.dhcp.config import DhcpConfig
from bootsvc.dhcp.handler import DhcpHandler, ip_str
from bootsvc.dhcp.leases import Lease, LeaseStore, snapshot_records
from bootsvc.dhcp.packet import format_mac

log = logging.getLogger(__name__)
SYNC_INTERVAL = 0.1  # journal fsync of what no reply waited for (and of everything, lazily)
# Group commit window: fsyncs start at most this often. A fast disk finishes an fsync before
# the next datagram arrives, so without it each lease got its own fsync, and the fsync's
# kernel time and the thread hand-offs cost more than the packet itself; the ACK waits at most
# this much longer.
GROUP_COMMIT_WINDOW = 0.002
MAX_BATCH = 64  # datagrams read per readiness event
RECV_SIZE = 4096  # larger than any DHCP request (RFC 2131: 576 minimum; jumbo options allowed)
EXPIRE_INTERVAL = 1.0
COMPACTION_CHUNK = 1000  # journal records formatted per loop turn while compacting


def lease_dict(item: tuple) -> dict:
    mac, ip, hostname, expires, state = item
    return {"mac": format_mac(mac), "ip": ip_str(ip), "hostname": hostname,
            "expires": int(expires), "state": state}


def event_dict(item: tuple) -> dict:
    mac, kind, description, when, fields = item
    return {"mac": format_mac(mac), "type": kind, "description": description, "time": when,
            **(fields or {})}


def failure(done: asyncio.Future) -> str | None:
    """Why a finished future failed, or None when it succeeded."""
    if done.cancelled():
        return "cancelled"
    return None if done.exception() is None else str(done.exception())


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


class SocketSender:
    """Replies go straight to the non-blocking socket (asyncio's datagram transport reads one
    datagram per loop turn; the server reads its own, in batches)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    def close(self) -> None:
        self.sock.close()


class DhcpServer:
    """DHCP on one interface; report(leases) and events(events) receive batches of dicts.

    sync_before_reply=False (benchmarks only) leaves the fsync to the housekeeping timer, as
    servers that do not sync each lease do: a crash may then lose the last SYNC_INTERVAL (and
    a kill -9 the lines of the few ms while a compaction swaps files, held back unwritten).
    """

    def __init__(self, config: DhcpConfig, interface: str | None, server_ip: str,
                 state_dir: str | None = None, report=None, events=None, port: int = 67,
                 clock=time.time, sync_before_reply: bool = True):
        self.interface, self.server_ip, self.port = interface, server_ip, port
        self.sync_before_reply = sync_before_reply
        self._sock: socket.socket | None = None
        # Group commit: replies waiting for the next fsync, the fsync running, its thread.
        self._after_sync: list[tuple[bytes, tuple[str, int]]] = []
        self._syncing: asyncio.Future | None = None
        self._sync_started = float("-inf")  # loop time of the last fsync's start
        self._sync_timer: asyncio.TimerHandle | None = None
        self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="dhcp-fsync")
        # Compaction: the snapshot being written (its own thread), then its record count
        # until the sync thread puts it in place of the journal.
        self._compacting: asyncio.Task | None = None
        self._snapshot_written: int | None = None
        self._compact_thread = ThreadPoolExecutor(1, thread_name_prefix="dhcp-compact")
        self.leases = LeaseStore(state_dir, clock=clock)
        self.lease_batcher = Batcher(report, convert=lease_dict, key=lambda item: item[0])
        self.event_batcher = Batcher(events, convert=event_dict)
        self.handler = DhcpHandler(config, server_ip, self.leases, emit=self._emit,
                                   report=self._report, clock=clock)
        self.transport: SocketSender | None = None
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

    # -- packets -----------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.answer([data])

    def error_received(self, exc) -> None:
        self.counters["socket_errors"] += 1

    def _read_ready(self) -> None:
        """Every datagram waiting (up to MAX_BATCH) in one loop turn: one poll and one fsync
        for all of them, not one each."""
        batch, recv = [], self._sock.recv
        try:
            for _ in range(MAX_BATCH):
                batch.append(recv(RECV_SIZE))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.error_received(exc)
        if batch:
            self.answer(batch)

    def answer(self, datagrams: list[bytes]) -> None:
        """Handle datagrams; send the replies once the leases they granted are on disk.

        Group commit: the journal lines of every ACK handled since the last fsync reach the
        disk with one fsync, and no reply that granted a lease leaves before it, so a lease a
        client was told about survives a power cut. In the event loop the fsync runs in a
        thread while the loop goes on reading and handling the next datagrams (their replies
        wait for the next fsync); replies that wrote nothing go at once.
        """
        journal = self.leases.journal
        before = journal.records if journal is not None else 0
        replies = [reply for reply in map(self.handler.handle, datagrams) if reply is not None]
        if journal is not None:
            journal.write()  # before any reply leaves: a lease told survives kill -9
        if not self.sync_before_reply or journal is None or journal.records == before:
            self._send(replies)
            return
        self._after_sync.extend(replies)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the loop (tests): sync here
            self._sync_inline()
        else:
            self._start_sync(loop)

    def _send(self, replies: list[tuple[bytes, tuple[str, int]]]) -> None:
        for data, address in replies:
            try:
                self.transport.sendto(data, address)
                self.counters["sent"] += 1
            except OSError as exc:  # a full send buffer drops the reply: the client retries
                self.counters["send_errors"] += 1
                log.debug("sendto %s failed: %s", address, exc)

    def _sync_inline(self) -> None:
        waiting, self._after_sync = self._after_sync, []
        self.leases.journal.sync()
        self.counters["journal_syncs"] += 1
        self._send(waiting)

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """fsync what was written so far in the sync thread, unless one runs (its end starts
        the next one) or the last one started less than GROUP_COMMIT_WINDOW ago (a timer
        does)."""
        journal = self.leases.journal
        if self._syncing is not None or self._sync_timer is not None:
            return
        if self._snapshot_written is not None:
            self._switch(loop)
            return
        if not journal.dirty:
            return
        wait = self._sync_started + GROUP_COMMIT_WINDOW - loop.time()
        if wait > 0:
            self._sync_timer = loop.call_later(wait, self._window_closed, loop)
            return
        self._sync_started = loop.time()
        waiting, self._after_sync = self._after_sync, []
        journal.write()  # held back while a compaction switched files
        journal.dirty = False  # what is written from now on waits for the next fsync
        self.counters["journal_syncs"] += 1
        self._syncing = loop.run_in_executor(self._sync_thread, journal.fsync)
        self._syncing.add_done_callback(lambda done: self._synced(done, waiting, loop))

    async def _compact(self) -> None:
        """Write the new journal while the loop goes on answering: the leases copied at once
        (~10 ms for 50,000), formatted a chunk per loop turn, written and fsynced in a thread.
        (All in the loop, 50,000 leases took 135 ms, and the burst of replies after it
        overflowed clients' buffers; formatting in a thread fought the loop for the GIL.)"""
        journal, count, chunks = self.leases.journal, 0, []
        journal.begin_compaction()
        try:
            records = snapshot_records(self.leases.snapshot())
            while chunk := list(itertools.islice(records, COMPACTION_CHUNK)):
                chunks.append(b"".join(chunk))
                count += len(chunk)
                await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(
                self._compact_thread, journal.write_snapshot, chunks)
        except BaseException as exc:
            journal.abandon_compaction()
            if not isinstance(exc, asyncio.CancelledError):
                self._compaction_failed(str(exc))
            raise
        finally:
            self._compacting = None
        self._snapshot_written = count
        self._start_sync(asyncio.get_running_loop())

    def _switch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Put the snapshot in place of the journal, with what was appended since, in the sync
        thread (between two fsyncs); everything appended before is then durable."""
        journal, count, self._snapshot_written = self.leases.journal, self._snapshot_written, None
        tail, held = journal.start_switch()
        waiting, self._after_sync = self._after_sync, []
        self._syncing = loop.run_in_executor(self._sync_thread, journal.replace, tail)

        def switched(done: asyncio.Future) -> None:
            self._syncing = None
            why = failure(done)
            journal.end_switch(why is None, held, count + len(tail))
            if why is None:
                self.counters["journal_compactions"] += 1
                self._send(waiting)
            else:  # the old journal goes on: the next fsync covers them
                self._after_sync = waiting + self._after_sync
                self._compaction_failed(why)
            self._start_sync(loop)

        self._syncing.add_done_callback(switched)

    def _compaction_failed(self, why: str) -> None:
        self.counters["journal_compaction_errors"] += 1
        log.error("lease journal compaction failed: %s", why)

    def _window_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sync_timer = None
        self._start_sync(loop)

    def _cancel_window(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None

    def _sync_now(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the fsync without waiting for the window (stopping)."""
        self._cancel_window()
        self._sync_started = float("-inf")
        self._start_sync(loop)

    def _synced(self, done: asyncio.Future, waiting: list, loop) -> None:
        self._syncing = None
        why = failure(done)
        if why is not None:
            # Not durable: no ACK leaves (each client asks again). A disk that fails fsync
            # fails every one: the log says so.
            self.counters["journal_sync_errors"] += 1
            self.counters["unsent_not_durable"] += len(waiting)
            log.error("lease journal fsync failed: %s", why)
        else:
            self._send(waiting)
        self._start_sync(loop)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._sock = open_socket(self.interface, self.port)
        self.connection_made(SocketSender(self._sock))
        loop.add_reader(self._sock.fileno(), self._read_ready)
        self._tasks = [loop.create_task(coro) for coro in (
            self._housekeeping(), self.lease_batcher.run(), self.event_batcher.run())]
        log.info("DHCP listening on %s (%s) port %d", self.interface, self.server_ip, self.port)

    async def _housekeeping(self) -> None:
        last_expire = 0.0
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                if self.leases.journal:  # in the sync thread, as the replies' fsyncs
                    self._start_sync(asyncio.get_running_loop())
                now = time.monotonic()
                if now - last_expire >= EXPIRE_INTERVAL:
                    last_expire = now
                    for lease in self.leases.expire():
                        self._report(lease, "expired")
                    if (self._compacting is None and self._snapshot_written is None
                            and self.leases.needs_compaction()):
                        self._compacting = asyncio.create_task(self._compact())
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
        if self._compacting is not None:  # the old journal stays: it holds everything
            self._compacting.cancel()
            await asyncio.wait([self._compacting])
        self._snapshot_written = None
        if self.leases.journal:
            self.leases.journal.abandon_compaction()
        self._compact_thread.shutdown(wait=True)
        while self._syncing is not None or self._after_sync:  # the replies go out, then
            if self._syncing is None:  # the journal closes
                self._sync_now(asyncio.get_running_loop())
                if self._syncing is None:
                    break
            await asyncio.wait([self._syncing])
            await asyncio.sleep(0)
        self._cancel_window()  # no timer left behind
        self._sync_thread.shutdown(wait=True)
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        if self.transport:
            self.transport.close()
        if self.leases.journal:
            self.leases.journal.close()
