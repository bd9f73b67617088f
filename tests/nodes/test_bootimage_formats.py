"""Deployable image formats: names and content checks on the first bytes of a file."""
import gzip

import pytest

from nodes.bootimages import formats
from nodes.choices import BootResourceFileFormat
from tests.nodes.bootresource_factories import DISK, payloads, tarball, zstd_frame

PAYLOADS = payloads()


def head(data: bytes) -> bytes:
    return data[:formats.HEAD_SIZE]


def test_the_model_choices_are_the_formats():
    assert set(BootResourceFileFormat.values) - {""} == set(formats.SUFFIXES)


@pytest.mark.parametrize("fmt, name", [("raw", "root.img"), ("gz", "root.img.gz"),
                                       ("zst", "root.img.zst"), ("tgz", "root.tar.gz")])
def test_file_names_carry_the_format(fmt, name):
    assert formats.filename(fmt) == name


@pytest.mark.parametrize("fmt", sorted(PAYLOADS))
def test_each_format_accepts_its_own_content(fmt):
    assert formats.check_content(fmt, head(PAYLOADS[fmt])) is None


@pytest.mark.parametrize("declared, actual", [
    (declared, actual) for declared in PAYLOADS for actual in PAYLOADS if declared != actual])
def test_each_format_refuses_the_others(declared, actual):
    assert formats.check_content(declared, head(PAYLOADS[actual]))


@pytest.mark.parametrize("fmt, data, words", [
    ("raw", b"no partition table" * 100, "no partition table signature"),
    ("raw", b"\x55\xaa", "no partition table signature"),  # shorter than a sector
    ("raw", PAYLOADS["tgz"], "root-tgz"),
    ("gz", gzip.compress(b"not a disk" * 100), "not a disk image"),
    ("gz", b"\x1f\x8b\x08garbage" * 10, "Not gzip"),
    ("gz", PAYLOADS["tgz"], "root-tgz"),
    ("zst", b"\x28\xb5\x2f", "Not zstd"),
    ("tgz", gzip.compress(b"\0" * 1024), "not a tar archive"),  # an empty tar is refused too
])
def test_refusals_say_why(fmt, data, words):
    assert words in formats.check_content(fmt, head(data))


def test_a_gzipped_image_is_recognised_from_its_head_alone():
    big = DISK + bytes(range(256)) * 40_000  # ~11 MiB: the check sees only the first 64 KiB
    assert formats.check_content("gz", head(gzip.compress(big))) is None
    assert formats.check_content("tgz", head(tarball({"a": big}))) is None
    assert formats.check_content("zst", head(zstd_frame(big))) is None
