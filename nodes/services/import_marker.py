"""The boot image import's marker: held while an import runs, visible to every region process.

Why a lock and not a row with a heartbeat: a lock dies with its holder. A worker killed in the
middle of a build (OOM, SIGKILL, a power cut) leaves no marker behind, so `is_importing` turns
false at once and the next import may start, with no expiry to tune and no heartbeat thread
that a long package download must keep alive.

- PostgreSQL (several regions): a session advisory lock, taken on a connection of its own that
  lives as long as the import. PostgreSQL drops it when that connection ends, including when the
  holder dies. Others read pg_locks, which never takes the lock, so looking never gets in the
  way of an import starting.
- SQLite (the embedded default, one host by nature: the database is a local file): an flock on
  a file beside the database. The kernel drops it when the holder dies. Looking takes a shared
  lock for an instant, so whoever takes the marker retries briefly before deciding that an
  import really runs.
"""
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

# pg_try_advisory_lock(int, int): classid 'meta', objid 'impt' in pg_locks (objsubid 2).
LOCK_KEYS = (0x6D657461, 0x696D7074)
# How long taking the SQLite marker retries while someone merely looks at it.
FILE_LOCK_PATIENCE = 1.0


@contextmanager
def import_marker() -> Iterator[bool]:
    """Hold the marker for the block: yields True, or False when another import holds it."""
    if connection.vendor == "postgresql":
        with _advisory_lock() as held:
            yield held
    else:
        with _file_lock() as held:
            yield held


def import_marker_held() -> bool:
    """Whether an import holds the marker anywhere (any region process, any host)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = %s::oid AND objid = %s::oid AND objsubid = 2)", list(LOCK_KEYS))
            return bool(cursor.fetchone()[0])
    try:
        descriptor = os.open(lock_path(), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # also drops the shared lock
    return False


@contextmanager
def _advisory_lock() -> Iterator[bool]:
    # A connection of its own: the ORM's may be closed or recycled while the build runs (and
    # a session lock must not ride on a connection a pooler could hand to someone else).
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    held = False
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(LOCK_KEYS))
            held = bool(cursor.fetchone()[0])
        yield held
    finally:
        # Unlock first: the server ends a closed session (and drops its locks) a moment after
        # the client is gone, and whoever asks next must find the marker free.
        if held:
            with contextlib.suppress(DatabaseError), own.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(LOCK_KEYS))
        own.close()  # ends the session: a lock not released above goes with it


@contextmanager
def _file_lock() -> Iterator[bool]:
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield _take(descriptor)
    finally:
        os.close(descriptor)  # releases the lock if it was taken


def _take(descriptor: int) -> bool:
    deadline = time.monotonic() + FILE_LOCK_PATIENCE
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def lock_path() -> Path:
    """The SQLite marker's file: beside the database file (under VAR_DIR for :memory:)."""
    name = str(connection.settings_dict.get("NAME") or "")
    if name and name != ":memory:" and not name.startswith("file:"):
        return Path(name).with_name(Path(name).name + ".boot-import.lock")
    return Path(settings.VAR_DIR) / "boot-import.lock"
