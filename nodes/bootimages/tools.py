"""dropbear in the ephemeral initramfs (the SSH server of rescue mode).

Debian has no static build, so the binaries come with the shared libraries `ldd` says they need,
taken from the same Debian packages, and the dynamic loader.
"""
import os
import shutil
import subprocess
from pathlib import Path

from nodes.bootimages.debs import BuildError, Package, Progress, candidate, unpack

# dropbear-bin and the packages of the libraries it links (ldd checks that nothing is missing).
SSH_PACKAGES = ("dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10",
                "zlib1g")
SSH_BINARIES = ("usr/sbin/dropbear", "usr/bin/dropbearkey")
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")
# Where the initramfs keeps them: the dynamic loader's default directory (no ld.so.cache).
INITRAMFS_LIB_DIR = "lib/x86_64-linux-gnu"


def resolve_ssh_packages() -> list[Package]:
    """dropbear-bin and its libraries' packages, at their candidate versions."""
    return [candidate(name)[0] for name in SSH_PACKAGES]


def shared_libraries(binary: Path, root: Path) -> tuple[list[Path], Path | None]:
    """The shared libraries `binary` needs, resolved (by `ldd`) inside the unpacked packages
    under root, and the name of its dynamic loader; BuildError when one is only on this host."""
    lib_dirs = [str(root / d) for d in LIB_DIRS if (root / d).is_dir()]
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(lib_dirs), "LC_ALL": "C"}
    try:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env,
                              check=False)
    except FileNotFoundError as exc:
        raise BuildError("ldd is not installed (libc-bin)") from exc
    if done.returncode != 0:
        raise BuildError(f"ldd {binary} failed: {(done.stderr or done.stdout).strip()}")
    return parse_ldd(done.stdout, root)


def parse_ldd(text: str, root: Path) -> tuple[list[Path], Path | None]:
    """ldd's answer: (libraries, all under root; the loader's path as the binary names it)."""
    libraries, loader = [], None
    for line in text.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            path = rest.strip().split(" (")[0].strip()
            if not path or path == "not found":
                raise BuildError(f"{name.strip()} not found in the unpacked packages")
            if not Path(path).is_relative_to(root):
                raise BuildError(f"{name.strip()} resolved to this host's {path}: its Debian "
                                 f"package is missing from SSH_PACKAGES")
            libraries.append(Path(path))
        elif line.startswith("/"):
            loader = Path(line.split(" (")[0])
    return libraries, loader


def real_file(root: Path, path: Path) -> Path:
    """Follow symlinks of a file inside an unpacked package tree (absolute targets stay in it)."""
    for _ in range(40):
        if not path.is_symlink():
            return path
        target = Path(os.readlink(path))
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
    raise BuildError(f"symlink loop at {path}")


def stage_ssh(initramfs: Path, debs: list[Path], work: Path, progress: Progress) -> None:
    """dropbear and dropbearkey with their shared libraries and the dynamic loader."""
    progress("adding dropbear (rescue mode SSH server)")
    for deb in debs:
        unpack(deb, work)
    needed, loader = {}, None
    for relative in SSH_BINARIES:
        binary = work / relative
        if not binary.is_file():
            raise BuildError(f"no {relative} in the dropbear package")
        target = initramfs / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, target)
        target.chmod(0o755)
        libraries, found = shared_libraries(binary, work)
        loader = loader or found
        needed.update({library.name: library for library in libraries})
    if loader is None:
        raise BuildError("ldd named no dynamic loader for dropbear")
    lib_dir = initramfs / INITRAMFS_LIB_DIR
    lib_dir.mkdir(parents=True, exist_ok=True)
    for name, library in sorted(needed.items()):
        shutil.copyfile(real_file(work, library), lib_dir / name)
    loader_source = next((real_file(work, work / d / loader.name) for d in LIB_DIRS
                          if (work / d / loader.name).exists()), None)
    if loader_source is None:
        raise BuildError(f"no {loader.name} in the libc6 package")
    (initramfs / loader.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(loader_source, initramfs / loader.relative_to("/"))
    (initramfs / loader.relative_to("/")).chmod(0o755)
    progress(f"  dropbear with {len(needed)} libraries: {', '.join(sorted(needed))}")
