"""cpio newc archives (the initramfs format), written reproducibly and read back for checks."""
import gzip
import os
import stat
from collections.abc import Iterator
from pathlib import Path

# (path, mode, major, minor): nodes the kernel needs before /init mounts devtmpfs.
DEVICE_NODES = (
    ("dev/console", stat.S_IFCHR | 0o600, 5, 1), ("dev/null", stat.S_IFCHR | 0o666, 1, 3),
)


def newc_header(name: str, mode: int, size: int, ino: int, rdev: tuple[int, int] = (0, 0)) -> bytes:
    """A cpio newc header plus the padded name (uid/gid 0, mtime 0: reproducible archives)."""
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    values = (ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % v for v in values) + encoded
    return header + b"\0" * (-len(header) % 4)


def newc_entries(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every entry under root, parents first, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            yield path.relative_to(root).as_posix(), path


def write_newc(root: Path, out, nodes=DEVICE_NODES) -> int:
    """Write root (plus device nodes) as a newc archive to a binary file; the entry count."""
    ino = 0
    for ino, (name, mode, major, minor) in enumerate(nodes, start=1):
        out.write(newc_header(name, mode, 0, ino, (major, minor)))
    for name, path in newc_entries(root):
        ino += 1
        info = path.lstat()
        data = os.readlink(path).encode() if path.is_symlink() else b""
        if stat.S_ISREG(info.st_mode):
            data = path.read_bytes()
        out.write(newc_header(name, info.st_mode, len(data), ino))
        out.write(data + b"\0" * (-len(data) % 4))
    out.write(newc_header("TRAILER!!!", 0, 0, 0))
    return ino


def read_newc(data: bytes) -> list[dict]:
    """The entries of a newc archive: name, mode, size, rdev and data (used to check images)."""
    entries, pos = [], 0
    while True:
        if data[pos:pos + 6] != b"070701":
            raise ValueError(f"bad cpio magic at {pos}")
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, size = fields[11], fields[6]
        start = pos + 110
        name = data[start:start + namesize - 1].decode()
        body = start + namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append({"name": name, "mode": fields[1], "size": size,
                        "rdev": (fields[9], fields[10]), "data": data[body:body + size]})
        pos = body + size + (-size % 4)


def write_initrd(root: Path, target: Path) -> int:
    """Write root as a gzipped newc archive to target (by rename); the entry count."""
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
            count = write_newc(root, out)
    os.replace(tmp, target)
    return count
