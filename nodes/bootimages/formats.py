"""Deployable image formats: their file names and how their first bytes are recognised. Pure.

A deployable boot resource holds its OS as a raw disk image (`raw`, written to the disk as is),
the same compressed (`gz`, `zst`: the deploy runner stream-decompresses while writing), or a root
filesystem tarball (`tgz` gzip, `tzst` zstd: unpacked onto a filesystem the runner makes). The
format is recorded on the file's row and is also the file name's suffix (root.img, root.img.gz,
root.img.zst, root.tar.gz, root.tar.zst). Content checks read only the head of a file (HEAD_SIZE
bytes): a raw image must carry a partition table signature (MBR, or GPT's protective MBR) at
byte 510; gz and tgz must be gzip data whose first decompressed 512 bytes are that MBR,
respectively a valid tar header; zst and tzst must start with the zstd frame magic (no
decompressor in the standard library).
"""
import tarfile
import zlib

RAW, GZ, ZST, TGZ, TZST = "raw", "gz", "zst", "tgz", "tzst"
SUFFIXES = {RAW: ".img", GZ: ".img.gz", ZST: ".img.zst", TGZ: ".tar.gz", TZST: ".tar.zst"}
ROOT_IMAGE_FORMATS = (RAW, GZ, ZST)
ROOT_TGZ_FORMATS = (TGZ, TZST)  # the first is what a root-tgz is when no format is given
HEAD_SIZE = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MBR_SIGNATURE = b"\x55\xaa"
SECTOR = 512


def filename(file_format: str) -> str:
    """The file name of a deployable image in this format (root.img, root.img.gz, ...)."""
    return "root" + SUFFIXES[file_format]


def resource_dir(kind: str, architecture: str, series: str) -> str:
    """Where a boot resource's files live, relative to BOOT_RESOURCES_DIR."""
    return "/".join(("images", kind, architecture, series))


def check_content(file_format: str, head: bytes) -> str | None:
    """Why `head` (a file's first bytes) is not the start of a file in this format, or None."""
    checks = {RAW: _check_raw, GZ: _check_gz, ZST: _check_zst, TGZ: _check_tgz,
              TZST: _check_zst}
    return checks[file_format](head)


def _compressed_as(head: bytes) -> str | None:
    """gz or zst when head starts with that compressor's magic, else None."""
    if head.startswith(GZIP_MAGIC):
        return GZ
    if head.startswith(ZSTD_MAGIC):
        return ZST
    return None


def _has_partition_table(data: bytes) -> bool:
    return len(data) >= SECTOR and data[SECTOR - 2:SECTOR] == MBR_SIGNATURE


def _check_raw(head: bytes) -> str | None:
    compressed = _compressed_as(head)
    if compressed == GZ and _is_tar(_gunzip_head(head) or b""):
        return "This is a gzipped tarball, not a disk image: upload it as root-tgz."
    if compressed:
        return f"This is {compressed}-compressed data, not a raw disk image: declare {compressed}."
    if not _has_partition_table(head):
        return "Not a raw disk image: no partition table signature (55 AA) at byte 510."
    return None


def _gunzip_head(head: bytes) -> bytes | None:
    """The first decompressed bytes of gzip data (at most HEAD_SIZE), None if it is not gzip."""
    if not head.startswith(GZIP_MAGIC):
        return None
    try:
        return zlib.decompressobj(wbits=31).decompress(head, HEAD_SIZE)
    except zlib.error:
        return None


def _check_gz(head: bytes) -> str | None:
    inner = _gunzip_head(head)
    if inner is None:
        return "Not gzip data (no valid gzip header)."
    if _is_tar(inner):
        return "This is a gzipped tarball, not a disk image: upload it as root-tgz."
    if not _has_partition_table(inner):
        return "The decompressed data is not a disk image: no partition table signature."
    return None


def _check_zst(head: bytes) -> str | None:
    if not head.startswith(ZSTD_MAGIC):
        return "Not zstd data (no zstd frame magic 28 B5 2F FD)."
    return None


def _is_tar(data: bytes) -> bool:
    """Whether data starts with a valid tar header (checksum and all)."""
    try:
        tarfile.TarInfo.frombuf(data[:SECTOR], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _check_tgz(head: bytes) -> str | None:
    inner = _gunzip_head(head)
    if inner is None:
        return "Not gzip data (no valid gzip header)."
    if not _is_tar(inner):
        return "The decompressed data is not a tar archive (no valid tar header)."
    return None
