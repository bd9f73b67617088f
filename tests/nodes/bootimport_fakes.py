"""A fast stand-in for the image build (nodes.bootimages.builder.build), for import tests.

Only the builder boundary is replaced: the marker, the BootImport record, the stop flag and the
registration are the real ones. A real build needs root, apt and minutes
(tests/nodes/test_bootimages.py has it, integration-marked).
"""
import threading

import pytest

from nodes.bootimages import builder, loaders
from nodes.bootimages.debs import BuildError


class FakeBuild:
    """builder.build's signature: writes a tiny kernel and initrd, reporting progress; `gate`
    (when set) makes it wait between steps until released, as a long build would."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.gate: threading.Event | None = None
        self.building = threading.Event()
        self.error = ""

    def __call__(self, output_dir, flavour="generic", cache_dir=None, force=False,
                 progress=print):
        self.calls.append((output_dir, flavour, cache_dir, force))
        progress(f"resolving packages ({flavour} kernel)")
        self.building.set()
        while self.gate is not None and not self.gate.wait(0.05):
            progress("downloading packages")  # a step boundary: where a stop is seen
        if self.error:
            raise BuildError(self.error)
        kernel, initrd = builder.outputs(output_dir)
        kernel.parent.mkdir(parents=True, exist_ok=True)
        kernel.write_bytes(b"kernel")
        initrd.write_bytes(b"initrd")
        progress(f"done: {kernel}")
        signed = builder.Package("linux-image-6.1.0-9-amd64", "6.1.1-1",
                                 source="linux-signed-amd64")
        return builder.BuildResult(built=True, kernel=kernel, initrd=initrd,
                                   packages={signed.name: signed.version},
                                   kernel_facts=builder.kernel_signing(signed))


def fake_fetch_loaders(output_dir, cache_dir, progress=print) -> loaders.LoaderResult:
    """loaders.fetch_loaders's signature: writes two small loaders, no apt."""
    result = loaders.LoaderResult(packages={"shim-signed": "1.51", "grub-efi-amd64-signed": "2.06"})
    for name, path in loaders.loader_paths(output_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"MZ {name}".encode())
        result.files[name] = path
    progress("boot loaders: written")
    return result


@pytest.fixture
def fake_build(monkeypatch, settings, tmp_path) -> FakeBuild:
    """The builder replaced by a FakeBuild; BOOT_RESOURCES_DIR in tmp_path."""
    settings.BOOT_RESOURCES_DIR = str(tmp_path / "boot-resources")
    fake = FakeBuild()
    monkeypatch.setattr(builder, "build", fake)
    monkeypatch.setattr(loaders, "fetch_loaders", fake_fetch_loaders)
    return fake
