"""Build the ephemeral boot image (kernel + initramfs) from Debian packages, with no other download.

Packages come from this host's apt sources through `apt-get download` (cached in the cache dir),
are unpacked with `dpkg -x`; the initramfs holds busybox-static, the kernel's network, storage
and filesystem modules (with their dependencies and a `depmod`-made modules.dep/alias), the udhcpc
script and `/init` (init.sh), and dropbear, zstd and the disk tools (nodes.bootimages.tools).
Pure build code: no Django, no models. Packages: nodes.bootimages.debs; the archive format:
nodes.bootimages.cpio.
"""
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nodes.bootimages.cpio import write_initrd
from nodes.bootimages.debs import BuildError, Package, Progress, candidate, download, run, unpack
from nodes.bootimages.tools import resolve_tool_packages, stage_tools

BUILDER_VERSION = "5"
ARCH = "amd64"
KERNEL_META = {"generic": "linux-image-amd64", "cloud": "linux-image-cloud-amd64"}
BUSYBOX_PACKAGE = "busybox-static"
MODULE_DIRS = (
    "kernel/drivers/net", "kernel/drivers/block", "kernel/drivers/virtio", "kernel/drivers/scsi",
    "kernel/drivers/ata", "kernel/drivers/nvme",
    # Only the file systems the jobs mount (ext4 and the ESP's FAT; ext4 is built into Debian's
    # kernels; efivarfs: 30-firmware reads the Secure Boot state): the network and other file
    # systems were a third of the initramfs, and every netboot pays for its size twice under
    # TCG (transfer, then unpacking).
    "kernel/fs/ext4", "kernel/fs/jbd2", "kernel/fs/fat", "kernel/fs/nls", "kernel/fs/efivarfs",
    "kernel/drivers/md",  # device mapper: the lvm storage layout
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
    (HERE / "disk.sh", "lib/metal/disk.sh", 0o644),
    (HERE / "write_metal_cfg.sh", "usr/bin/write_metal_cfg.sh", 0o755),
    (HERE / "write_root_tgz.sh", "usr/bin/write_root_tgz.sh", 0o755),
    (HERE / "install_root.sh", "usr/bin/install_root.sh", 0o755),
)
IMAGE_SUBDIR = Path("images/ephemeral") / ARCH


@dataclass
class BuildResult:
    """What a build did: whether anything changed, the outputs and a few facts about them."""

    built: bool
    kernel: Path
    initrd: Path
    kernel_version: str = ""
    module_count: int = 0
    packages: dict = field(default_factory=dict)
    kernel_facts: dict = field(default_factory=dict)  # kernel_signing(): which kernel, signed?


# --- package resolution -------------------------------------------------------------------


def kernel_package_name(depends: str) -> str:
    """The versioned linux-image package a linux-image meta package depends on: never the
    `-unsigned` one (Debian's linux-image-<version>-amd64 is the signed build, which Secure
    Boot needs; its -unsigned sibling boots only with Secure Boot off)."""
    for alternative in depends.replace("|", ",").split(","):
        name = alternative.strip().split(" ")[0]
        if name.startswith("linux-image-") and name[len("linux-image-"):][:1].isdigit() \
                and not name.endswith("-unsigned"):
            return name
    raise BuildError(f"no signed versioned linux-image package in Depends: {depends}")


def kernel_signing(kernel: Package) -> dict:
    """What the image records about its kernel: the package, its source and whether it is the
    signed build (Debian builds signed kernel packages from the linux-signed-<arch> source)."""
    source = kernel.source or kernel.name
    return {"kernel_package": kernel.name, "kernel_package_version": kernel.version,
            "kernel_source": source, "kernel_signed": source.startswith("linux-signed-")}


def resolve_packages(flavour: str) -> list[Package]:
    """The packages an image of this kernel flavour is built from, at their candidate versions."""
    if flavour not in KERNEL_META:
        raise BuildError(f"unknown kernel flavour {flavour!r} (choose {', '.join(KERNEL_META)})")
    _, meta = candidate(KERNEL_META[flavour])
    kernel, _ = candidate(kernel_package_name(meta.get("Depends", "")))
    busybox, _ = candidate(BUSYBOX_PACKAGE)
    return [kernel, busybox]


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


def stamp_file(cache_dir: Path, kind: str, output_dir: Path) -> Path:
    """The stamp of one output dir's build: one per output dir, so that builds into several
    dirs sharing a cache (tests, the lab, the region) do not take turns invalidating it."""
    key = hashlib.sha256(str(Path(output_dir).resolve()).encode()).hexdigest()[:12]
    return cache_dir / f"stamp-{kind}-{key}.json"


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
    packages = resolve_packages(flavour) + resolve_tool_packages()
    for package in packages:
        progress(f"  {package.name} {package.version}")
    stamp = make_stamp(packages, flavour, output_dir)
    stamp_path = stamp_file(cache_dir, f"{flavour}-{ARCH}", output_dir)
    versions = {p.name: p.version for p in packages}
    if not force and is_up_to_date(stamp_path, stamp, [kernel_out, initrd_out]):
        progress(f"up to date: {kernel_out} and {initrd_out}")
        return BuildResult(False, kernel_out, initrd_out, packages=versions,
                           kernel_facts=kernel_signing(packages[0]))
    progress("downloading packages")
    debs = [download(p, cache_dir, progress) for p in packages]
    result = assemble(debs, stamp, cache_dir, kernel_out, initrd_out, progress)
    result.packages, result.kernel_facts = versions, kernel_signing(packages[0])
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
    unpacked vmlinuz, the kernel version and the module count. Further .debs (debs[2:]: the
    toolsets' packages, nodes.bootimages.tools) add dropbear, zstd and the disk tools."""
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
        stage_tools(initramfs, debs[2:], work / "tools", progress)
    initrd_out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"writing {initrd_out}")
    write_initrd(initramfs, initrd_out)
    return kernel_root / "boot" / f"vmlinuz-{version}", version, count


