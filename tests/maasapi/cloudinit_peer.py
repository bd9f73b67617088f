"""Debian's cloud-init, unpacked from its package (apt-get download + dpkg -x, cached), so its own
MAAS datasource and webhook reporter are the clients of the metadata service in tests."""
import os
import sys
from pathlib import Path

import pytest

from nodes.bootimages import debs
from tests.processes import skip_or_fail

CACHE_DIR = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))


@pytest.fixture(scope="session")
def cloudinit(tmp_path_factory):
    """The `cloudinit` package of Debian's cloud-init, importable in this process."""
    try:
        package, _ = debs.candidate("cloud-init")
        deb = debs.download(package, CACHE_DIR / "debs", progress=lambda _: None)
    except (debs.BuildError, OSError) as exc:
        skip_or_fail(f"cannot fetch Debian's cloud-init: {exc}")
    root = debs.unpack(deb, tmp_path_factory.mktemp("cloud-init"))
    sys.path.insert(0, str(root / "usr/lib/python3/dist-packages"))
    import cloudinit  # noqa: PLC0415 - only importable once unpacked

    yield cloudinit
    sys.path.remove(str(root / "usr/lib/python3/dist-packages"))
