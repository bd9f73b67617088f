"""Append-only lease journal: written before each ACK leaves, fsynced in batches, compacted."""
import os
import socket
import struct
import time
from collections.abc import Iterable, Iterator

from bootsvc.dhcp.packet import format_mac, parse_mac

JOURNAL_NAME = "leases.journal"
_IP = struct.Struct("!I")


def ip_text(ip: int) -> str:
    return socket.inet_ntoa(_IP.pack(ip))


def ip_int(text: str) -> int:
    return _IP.unpack(socket.inet_aton(text))[0]


def active_record(mac: bytes, ip: int, expires: float, hostname: str, now: float) -> bytes:
    """`A time mac ip expires hostname`: mac holds ip until expires."""
    return f"A {now:.3f} {format_mac(mac)} {ip_text(ip)} {expires:.0f} {hostname or '-'}\n".encode()


def release_record(mac: bytes, ip: int, now: float) -> bytes:
    """`R time mac ip`: mac gave ip back (RELEASE, DECLINE)."""
    return f"R {now:.3f} {format_mac(mac)} {ip_text(ip)}\n".encode()


def decline_record(ip: int, until: float, now: float) -> bytes:
    """`D time ip until`: ip is quarantined until `until` (a client declined it)."""
    return f"D {now:.3f} {ip_text(ip)} {until:.0f}\n".encode()


def read_records(path: str) -> Iterator[tuple]:
    """Parsed records of a journal; a torn or corrupt line (crash mid-write) is skipped."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    for line in data.split(b"\n"):
        try:
            fields = line.decode().split(" ")
            kind = fields[0]
            if kind == "A" and len(fields) == 6:
                hostname = "" if fields[5] == "-" else fields[5]
                yield ("A", float(fields[1]), parse_mac(fields[2]), ip_int(fields[3]),
                       float(fields[4]), hostname)
            elif kind == "R" and len(fields) == 4:
                yield ("R", float(fields[1]), parse_mac(fields[2]), ip_int(fields[3]))
            elif kind == "D" and len(fields) == 4:
                yield ("D", float(fields[1]), ip_int(fields[2]), float(fields[3]))
        except (ValueError, IndexError, OSError, UnicodeDecodeError):
            continue


class Journal:
    """The journal file of a state directory."""

    def __init__(self, state_dir: str):
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, JOURNAL_NAME)
        self.records = 0
        self.dirty = False
        self._pending: list[bytes] = []  # appended, not yet written
        # A compaction in the background: what was appended since its snapshot (it goes into
        # the new file too), and whether the new file is replacing the old one right now.
        self._tail: list[bytes] | None = None
        self.switching = False
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, record: bytes) -> None:
        """Queue a record: write() writes the queue (the page cache survives kill -9), sync()
        writes and fsyncs it. One write per batch of packets, not one per lease."""
        self._pending.append(record)
        if self._tail is not None:
            self._tail.append(record)
        self.records += 1
        self.dirty = True

    def write(self) -> None:
        """Write what was appended (held back while a compaction swaps the files: the old one
        is about to go)."""
        if self._pending and not self.switching:
            data, self._pending = b"".join(self._pending), []
            os.write(self._fd, data)

    def sync(self) -> None:
        self.write()
        if self.dirty:
            self.dirty = False
            os.fsync(self._fd)

    def fsync(self) -> None:
        """fsync now, whatever `dirty` says (the DHCP server's sync thread; it writes the queue
        and clears `dirty` itself before, in the loop)."""
        os.fsync(self._fd)

    def compact(self, records: Iterable[bytes]) -> None:
        """Replace the journal by a snapshot now (at start: nothing else writes)."""
        self._pending = []  # the snapshot holds what they recorded
        records = list(records)
        self.write_snapshot(records)
        self.records = len(records)
        self.replace([])
        self.dirty = False

    # Compaction in the background (the DHCP server): begin_compaction() in the loop, then
    # write_snapshot() in a thread while the loop goes on appending to the old file, then
    # start_switch(), replace(tail) in the sync thread, end_switch().
    def begin_compaction(self) -> None:
        """The snapshot is taken now: what is appended from now on is kept for the new file."""
        self.write()
        self._tail = []

    def abandon_compaction(self) -> None:
        self._tail = None

    def start_switch(self) -> tuple[list[bytes], list[bytes]]:
        """(tail for replace(), what was not written yet): both are in the tail, and nothing is
        written until end_switch()."""
        tail, held = self._tail or [], self._pending
        self._tail, self._pending = None, []
        self.switching, self.dirty = True, False
        self._records_at_switch = self.records
        return tail, held

    def end_switch(self, replaced: bool, held: list[bytes], new_records: int) -> None:
        """After replace(tail): done (new_records in the new file, and what came since), or
        failed and the old file goes on, with what it lacks."""
        self.switching = False
        if replaced:
            self.records = new_records + self.records - self._records_at_switch
        else:
            self._pending = held + self._pending
            self.dirty = True

    def write_snapshot(self, records: Iterable[bytes]) -> None:
        """The new journal, next to the old one, fsynced."""
        fd = os.open(self.path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(records))
            os.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, tail: list[bytes]) -> None:
        """Append tail to the new journal, fsync it and rename it over the old one (atomic; the
        old file holds everything until then), then write to it."""
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND)
        try:
            if tail:
                os.write(fd, b"".join(tail))
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        # Writing to the new file from now on, even if the directory's fsync fails (then the
        # server puts back lines the new file already has: replaying them twice is harmless).
        old, self._fd = self._fd, self._open()
        os.close(old)
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        self.sync()
        os.close(self._fd)


def now() -> float:
    return time.time()
