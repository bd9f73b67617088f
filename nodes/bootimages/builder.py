"""Build the ephemeral boot image (kernel + initramfs) from Debian packages, with no other download.

Packages come from this host's apt sources through `apt-get download` (cached in the cache dir),
are unpacked with `dpkg -x`; the initramfs holds busybox-static, the kernel's network, storage
and filesystem modules (with their dependencies and a `depmod`-made modules.dep/alias), the udhcpc
script and `/init` (init.sh), and dropbear (the SSH server of rescue mode: Debian has no static
build, so the binaries come with the shared libraries `ldd` says they need, taken from the same
Debian packages). Pure build code: no Django, no models.
"""
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BUILDER_VERSION = "1"
ARCH = "amd64"
KERNEL_META = {"generic": "linux-image-amd64", "cloud": "linux-image-cloud-amd64"}
BUSYBOX_PACKAGE = "busybox-static"
# dropbear-bin and the packages of the libraries it links (ldd checks that nothing is missing).
SSH_PACKAGES = ("dropbear-bin", "libc6", "libcrypt1", "libtomcrypt1", "libtommath1", "libgmp10",
                "zlib1g")
SSH_BINARIES = ("usr/sbin/dropbear", "usr/bin/dropbearkey")
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")
# Where the initramfs keeps them: the dynamic loader's default directory (no ld.so.cache).
INITRAMFS_LIB_DIR = "lib/x86_64-linux-gnu"
MODULE_DIRS = (
    "kernel/drivers/net", "kernel/drivers/block", "kernel/drivers/virtio", "kernel/drivers/scsi",
    "kernel/drivers/ata", "kernel/drivers/nvme", "kernel/fs",
)
# Wi-Fi needs firmware and credentials the ephemeral environment never has; it only adds size.
EXCLUDED_DIRS = ("kernel/drivers/net/wireless",)
MODULE_METADATA = ("modules.order", "modules.builtin", "modules.builtin.modinfo")
HERE = Path(__file__).resolve().parent
INIT_TEMPLATE = HERE / "init.sh"
DHCP_SCRIPT = HERE / "default.script"
# Installed in every initramfs: the functions both inits source, the deploy runner's helper.
SHARED_SCRIPTS = (
    (HERE / "common.sh", "lib/metal/common.sh", 0o644),
    (HERE / "write_metal_cfg.sh", "usr/bin/write_metal_cfg.sh", 0o755),
)
IMAGE_SUBDIR = Path("images/ephemeral") / ARCH
# (path, mode, major, minor): nodes the kernel needs before /init mounts devtmpfs.
DEVICE_NODES = (
    ("dev/console", stat.S_IFCHR | 0o600, 5, 1), ("dev/null", stat.S_IFCHR | 0o666, 1, 3),
)

Progress = Callable[[str], None]


class BuildError(Exception):
    """A build step failed (apt, dpkg, depmod, or a missing file)."""


@dataclass(frozen=True)
class Package:
    """A Debian package at its candidate version."""

    name: str
    version: str
    size: int = 0


@dataclass
class BuildResult:
    """What a build did: whether anything changed, the outputs and a few facts about them."""

    built: bool
    kernel: Path
    initrd: Path
    kernel_version: str = ""
    module_count: int = 0
    packages: dict = field(default_factory=dict)


def run(cmd: list[str], cwd: Path | None = None, stdin: str | None = None) -> str:
    """Run a command (stdin text, if any), returning its stdout; BuildError with its stderr when
    it fails."""
    try:
        done = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError as exc:
        raise BuildError(f"{cmd[0]} is not installed") from exc
    if done.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


# --- package resolution -------------------------------------------------------------------

def parse_control(text: str) -> dict[str, str]:
    """The fields of the first stanza of a Debian control text (apt-cache show output)."""
    fields, key = {}, None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def candidate(name: str) -> tuple[Package, dict[str, str]]:
    """The candidate version of a package in this host's apt lists, with its control fields."""
    fields = parse_control(run(["apt-cache", "show", "--no-all-versions", name]))
    if "Version" not in fields:
        raise BuildError(f"no installable candidate for {name} (run apt-get update?)")
    return Package(name, fields["Version"], int(fields.get("Size", "0") or 0)), fields


def kernel_package_name(depends: str) -> str:
    """The versioned linux-image package a linux-image meta package depends on."""
    for alternative in depends.replace("|", ",").split(","):
        name = alternative.strip().split(" ")[0]
        if name.startswith("linux-image-") and name[len("linux-image-"):][:1].isdigit():
            return name
    raise BuildError(f"no versioned linux-image package in Depends: {depends}")


def resolve_packages(flavour: str) -> list[Package]:
    """The packages an image of this kernel flavour is built from, at their candidate versions."""
    if flavour not in KERNEL_META:
        raise BuildError(f"unknown kernel flavour {flavour!r} (choose {', '.join(KERNEL_META)})")
    _, meta = candidate(KERNEL_META[flavour])
    kernel, _ = candidate(kernel_package_name(meta.get("Depends", "")))
    busybox, _ = candidate(BUSYBOX_PACKAGE)
    return [kernel, busybox]


def resolve_ssh_packages() -> list[Package]:
    """dropbear-bin and its libraries' packages, at their candidate versions."""
    return [candidate(name)[0] for name in SSH_PACKAGES]


# --- stamp (idempotence) ------------------------------------------------------------------

def template_hash(init_template: Path | None = None) -> str:
    """sha256 of the files copied into an image from this package (init, udhcpc script, shared
    scripts); init_template defaults to the ephemeral init."""
    digest = hashlib.sha256()
    shared = [source for source, _, _ in SHARED_SCRIPTS]
    for path in (init_template or INIT_TEMPLATE, DHCP_SCRIPT, *shared):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def make_stamp(packages: Iterable[Package], flavour: str, output_dir: Path) -> dict:
    """Everything a build depends on: a build with an equal stamp would make the same image."""
    return {
        "builder_version": BUILDER_VERSION, "flavour": flavour, "arch": ARCH,
        "packages": {p.name: p.version for p in packages},
        "templates_sha256": template_hash(), "output_dir": str(Path(output_dir).resolve()),
        "module_dirs": list(MODULE_DIRS), "excluded_dirs": list(EXCLUDED_DIRS),
    }


def build_id(stamp: dict) -> str:
    """A short id of a stamp, written into /init so the console shows which image booted."""
    return hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:12]


def output_facts(paths: Iterable[Path]) -> dict[str, int]:
    """Size of each output file (the stamp records them to notice files changed under it)."""
    return {str(p): p.stat().st_size for p in paths}


def is_up_to_date(stamp_path: Path, stamp: dict, outputs: list[Path]) -> bool:
    """Whether the recorded stamp equals `stamp` and every output is still there, unchanged."""
    try:
        recorded = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("stamp") != stamp or not all(p.is_file() for p in outputs):
        return False
    return recorded.get("outputs") == output_facts(outputs)


def write_stamp(stamp_path: Path, stamp: dict, outputs: list[Path]) -> None:
    """Record a finished build."""
    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    body = {"stamp": stamp, "outputs": output_facts(outputs)}
    atomic_write(stamp_path, json.dumps(body, indent=2, sort_keys=True).encode())


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file by rename, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- download and unpack ------------------------------------------------------------------

def cached_deb(package: Package, cache_dir: Path) -> Path | None:
    """The .deb of exactly this package version in the cache dir, if it is there."""
    for path in sorted(cache_dir.glob(f"{package.name}_*.deb")):
        control = parse_control(run(["dpkg-deb", "-f", str(path), "Package", "Version"]))
        if control.get("Package") == package.name and control.get("Version") == package.version:
            return path
    return None


def download(package: Package, cache_dir: Path, progress: Progress) -> Path:
    """The package's .deb, from the cache dir or else fetched with apt-get download."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = cached_deb(package, cache_dir)
    if found:
        progress(f"  {package.name} {package.version}: cached ({found.stat().st_size} bytes)")
        return found
    progress(f"  {package.name} {package.version}: downloading {package.size} bytes")
    cmd = ["apt-get", "download", "-q", f"{package.name}={package.version}"]
    proc = subprocess.Popen(cmd, cwd=cache_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    watch_download(proc, package, cache_dir, progress)
    _, err = proc.communicate()
    found = cached_deb(package, cache_dir)
    if proc.returncode != 0 or found is None:
        raise BuildError(f"apt-get download {package.name}={package.version} failed: {err}")
    progress(f"  {package.name}: {found.stat().st_size} bytes (100%)")
    return found


def watch_download(proc: subprocess.Popen, package: Package, cache_dir: Path,
                   progress: Progress) -> None:
    """Print bytes and percent of a running download every couple of seconds."""
    while proc.poll() is None:
        time.sleep(2)
        sizes = [p.stat().st_size for p in cache_dir.glob(f"{package.name}_*.deb*")
                 if p.is_file()]
        if sizes and package.size:
            got = max(sizes)
            progress(f"  {package.name}: {got}/{package.size} bytes "
                     f"({min(100, got * 100 // package.size)}%)")


def unpack(deb: Path, dest: Path) -> Path:
    """Unpack a .deb into dest with dpkg -x."""
    dest.mkdir(parents=True, exist_ok=True)
    run(["dpkg", "-x", str(deb), str(dest)])
    return dest


def module_root(root: Path) -> Path:
    """The lib/modules dir of an unpacked kernel package (usr-merged or not)."""
    for candidate_dir in (root / "lib/modules", root / "usr/lib/modules"):
        if candidate_dir.is_dir():
            return candidate_dir
    raise BuildError(f"no lib/modules in {root}")


def kernel_version(root: Path) -> str:
    """The version of the one kernel in an unpacked linux-image package."""
    versions = sorted(p.name for p in module_root(root).iterdir() if p.is_dir())
    with_image = [v for v in versions if (root / "boot" / f"vmlinuz-{v}").is_file()]
    if len(with_image) != 1:
        raise BuildError(f"expected one kernel in {root}, found {with_image or versions}")
    return with_image[0]


# --- module selection ---------------------------------------------------------------------

def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep as {module path: [dependency paths]}."""
    deps = {}
    for line in text.splitlines():
        if ":" in line:
            module, _, rest = line.partition(":")
            deps[module.strip()] = rest.split()
    return deps


def is_module(path: Path) -> bool:
    """Whether a file is a kernel module (plain or compressed)."""
    return path.is_file() and any(path.name.endswith(s) for s in (".ko", ".ko.xz", ".ko.zst",
                                                                  ".ko.gz"))


def select_modules(moddir: Path, dirs: Iterable[str] = MODULE_DIRS,
                   excluded: Iterable[str] = EXCLUDED_DIRS) -> set[str]:
    """Paths (relative to moddir) of every module under `dirs`, except those under `excluded`."""
    excluded = tuple(e.rstrip("/") + "/" for e in excluded)
    chosen = set()
    for top in dirs:
        for path in (moddir / top).rglob("*"):
            rel = path.relative_to(moddir).as_posix()
            if is_module(path) and not rel.startswith(excluded):
                chosen.add(rel)
    return chosen


def with_dependencies(modules: Iterable[str], deps: dict[str, list[str]]) -> set[str]:
    """The modules plus everything they need, transitively, per modules.dep."""
    result, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module not in result:
            result.add(module)
            todo.extend(deps.get(module, []))
    return result


def stage_modules(src: Path, dst_root: Path, version: str) -> int:
    """Copy the chosen modules of kernel dir `src` into dst_root and depmod them; the count."""
    if not (src / "modules.dep").is_file():  # the package leaves it to its postinst
        run(["depmod", "-b", str(src.parent.parent.parent), version])
    deps = parse_modules_dep((src / "modules.dep").read_text())
    modules = with_dependencies(select_modules(src), deps)
    dst = dst_root / "lib/modules" / version
    for rel in sorted(modules):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst / rel)
    for name in MODULE_METADATA:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    run(["depmod", "-b", str(dst_root), version])
    if not (dst / "modules.dep").is_file() or not (dst / "modules.alias").is_file():
        raise BuildError("depmod made no modules.dep/modules.alias")
    return len(modules)


# --- initramfs ----------------------------------------------------------------------------

def stage_initramfs(root: Path, busybox_root: Path, init_text: str) -> None:
    """Lay out busybox, the udhcpc script, the shared scripts and /init in the initramfs root."""
    for name in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/share/udhcpc", "proc", "sys", "dev",
                 "tmp", "run", "etc", "root", "lib/metal"):
        (root / name).mkdir(parents=True, exist_ok=True)
    busybox = busybox_root / "bin/busybox"
    if not busybox.is_file():
        raise BuildError(f"no bin/busybox in {busybox_root}")
    shutil.copyfile(busybox, root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    install(root / "usr/share/udhcpc/default.script", DHCP_SCRIPT.read_text(), 0o755)
    for source, target, mode in SHARED_SCRIPTS:
        install(root / target, source.read_text(), mode)
    install(root / "init", init_text, 0o755)
    (root / "bin/busybox").chmod(0o755)


def install(path: Path, text: str, mode: int) -> None:
    """Write a text file with a mode."""
    path.write_text(text)
    path.chmod(mode)


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


# --- the build ----------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """$VAR_DIR/image-build (VAR_DIR defaults to ./var, as for the region)."""
    return Path(os.environ.get("VAR_DIR", "var")) / "image-build"


def outputs(output_dir: Path) -> tuple[Path, Path]:
    """Where the kernel and initrd go under the boot resources dir (what boot decisions name)."""
    base = Path(output_dir) / IMAGE_SUBDIR
    return base / "linux", base / "initrd.gz"


def build(output_dir: Path, flavour: str = "generic", cache_dir: Path | None = None,
          force: bool = False, progress: Progress = print) -> BuildResult:
    """Build the ephemeral image into output_dir unless an identical build is already there."""
    cache_dir = Path(cache_dir or default_cache_dir())
    kernel_out, initrd_out = outputs(output_dir)
    progress(f"resolving packages ({flavour} kernel)")
    packages = resolve_packages(flavour) + resolve_ssh_packages()
    for package in packages:
        progress(f"  {package.name} {package.version}")
    stamp = make_stamp(packages, flavour, output_dir)
    stamp_path = cache_dir / f"stamp-{flavour}-{ARCH}.json"
    versions = {p.name: p.version for p in packages}
    if not force and is_up_to_date(stamp_path, stamp, [kernel_out, initrd_out]):
        progress(f"up to date: {kernel_out} and {initrd_out}")
        return BuildResult(False, kernel_out, initrd_out, packages=versions)
    progress("downloading packages")
    debs = [download(p, cache_dir, progress) for p in packages]
    result = assemble(debs, stamp, cache_dir, kernel_out, initrd_out, progress)
    result.packages = versions
    write_stamp(stamp_path, stamp, [kernel_out, initrd_out])
    progress(f"done: {kernel_out} ({kernel_out.stat().st_size} bytes), "
             f"{initrd_out} ({initrd_out.stat().st_size} bytes)")
    return result


def assemble(debs: list[Path], stamp: dict, cache_dir: Path, kernel_out: Path, initrd_out: Path,
             progress: Progress) -> BuildResult:
    """Unpack the kernel and busybox packages and write the kernel and initrd."""
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="work-") as work:
        init_text = INIT_TEMPLATE.read_text().replace("@BUILD_ID@", build_id(stamp))
        vmlinuz, version, count = make_initrd(debs, Path(work), init_text, initrd_out, progress)
        tmp = kernel_out.with_name(f".{kernel_out.name}.tmp")
        shutil.copyfile(vmlinuz, tmp)
        os.replace(tmp, kernel_out)
    return BuildResult(True, kernel_out, initrd_out, version, count)


def make_initrd(debs: list[Path], work: Path, init_text: str, initrd_out: Path,
                progress: Progress) -> tuple[Path, str, int]:
    """Unpack the kernel and busybox .debs in work, write initrd_out with this /init; the
    unpacked vmlinuz, the kernel version and the module count. Further .debs (debs[2:]: dropbear
    and its libraries' packages) add the SSH server."""
    progress("unpacking packages")
    kernel_root = unpack(debs[0], work / "kernel")
    busybox_root = unpack(debs[1], work / "busybox")
    version = kernel_version(kernel_root)
    progress(f"kernel {version}: collecting modules")
    initramfs = work / "initramfs"
    count = stage_modules(module_root(kernel_root) / version, initramfs, version)
    progress(f"  {count} modules, depmod done")
    stage_initramfs(initramfs, busybox_root, init_text)
    if len(debs) > 2:
        stage_ssh(initramfs, debs[2:], work / "ssh", progress)
    initrd_out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"writing {initrd_out}")
    write_initrd(initramfs, initrd_out)
    return kernel_root / "boot" / f"vmlinuz-{version}", version, count


# --- ssh server (dropbear, dynamically linked) ------------------------------------------------

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
