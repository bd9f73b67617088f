"""Debian packages for image builds: candidate versions, `apt-get download` into a cache, unpack.

Pure build code (no Django): the ephemeral image (builder) and the test OS (testos) use it.
"""
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[str], None]


class BuildError(Exception):
    """A build step failed (apt, dpkg, depmod, or a missing file)."""


@dataclass(frozen=True)
class Package:
    """A Debian package at its candidate version."""

    name: str
    version: str
    size: int = 0
    source: str = ""  # the source package (apt's Source field, first word; "" when the same)


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
    source = (fields.get("Source") or "").split(" ")[0]
    return Package(name, fields["Version"], int(fields.get("Size", "0") or 0), source), fields


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
