"""Boot configs (pxelinux, GRUB, iPXE) rendered from a boot decision; no Django."""

from __future__ import annotations

import functools
import re
import string
from pathlib import Path, PurePosixPath

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "boot"
LOADERS = ("pxelinux", "grub", "ipxe")
EPHEMERAL_ACTIONS = frozenset({"enlist", "commission", "deploy", "erase", "rescue", "poweroff"})
ACTIONS = EPHEMERAL_ACTIONS | {"local"}
# "poweroff" boots the ephemeral environment with this parameter added: its init powers the
# machine off. That works the same with every loader; iPXE's own `poweroff` command is not in
# iPXE's default build (POWEROFF_CMD) and pxelinux/GRUB would need extra modules.
POWEROFF_PARAM = "metal.poweroff=1"
# Where a deploying machine finds the image cache: this rack's HTTP boot server.
IMAGES_PARAM = "metal.images"
DEFAULT_HTTP_PORT = 5248
# TFTP and HTTP boot listen here unless told an address (--bind, BOOTSVC_BIND).
ALL_INTERFACES = "0.0.0.0"

_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f]")
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+$|^\[[0-9A-Fa-f:.]+\]$")


class BootConfigError(ValueError):
    """A boot decision that cannot be rendered safely."""


class _BootTemplate(string.Template):
    """string.Template with `@` as delimiter: GRUB and iPXE use `$` themselves."""

    delimiter = "@"


@functools.cache
def _template(name: str) -> _BootTemplate:
    return _BootTemplate((TEMPLATE_DIR / f"{name}.tmpl").read_text())


def normalise_mac(mac: str) -> str | None:
    """`52:54:00:12:34:56` from colon, hyphen or bare-hex forms; None when not a MAC."""
    mac = mac.strip().lower()
    if not _MAC_RE.match(mac):
        return None
    digits = mac.replace(":", "").replace("-", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def http_base(host: str, port: int = DEFAULT_HTTP_PORT) -> str:
    """`http://host:port` for the rack's HTTP boot server (IPv6 hosts in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not _HOST_RE.match(host):
        raise BootConfigError(f"bad HTTP host {host!r}")
    return f"http://{host}:{int(port)}"


def _image_path(decision: dict, key: str) -> str:
    value = decision.get(key)
    if not isinstance(value, str) or not value:
        raise BootConfigError(f"decision has no {key}")
    path = PurePosixPath(value.lstrip("/"))
    if ".." in path.parts or any(ch.isspace() for ch in value) or _UNSAFE_RE.search(value):
        raise BootConfigError(f"unsafe {key} path {value!r}")
    return str(path)


def _kernel_params(decision: dict, base: str) -> str:
    params = decision.get("kernel_params") or ""
    if not isinstance(params, str) or _UNSAFE_RE.search(params):
        raise BootConfigError("kernel_params must be one line of text")
    if decision["action"] == "poweroff" and POWEROFF_PARAM not in params.split():
        params = f"{params} {POWEROFF_PARAM}".strip()
    if decision["action"] == "deploy":
        # The deploy runner streams the image from the rack that served this boot.
        params = f"{params} {IMAGES_PARAM}={base}/".strip()
    return params


def _text(value: object) -> str:
    """A decision field shown in a comment or message: one line, no template syntax."""
    return _UNSAFE_RE.sub(" ", str(value or "")).replace("$", "").replace("@", "") or "-"


def _context(decision: dict, base: str) -> dict:
    action = decision.get("action")
    if action not in ACTIONS:
        raise BootConfigError(f"unknown action {action!r}")
    mac = normalise_mac(decision.get("mac") or "")
    ctx = {
        "action": action,
        "hostname": _text(decision.get("hostname") or decision.get("system_id") or "unknown"),
        "mac_label": mac or "any machine",
        "mac_hyphen": mac.replace(":", "-") if mac else "${netX/mac:hexhyp}",
        "bootif": f" BOOTIF=01-{mac.replace(':', '-')}" if mac else "",
        "http_base": base,
        "http_hostport": base.split("://", 1)[1],
    }
    if action in EPHEMERAL_ACTIONS:
        kernel, initrd = _image_path(decision, "kernel"), _image_path(decision, "initrd")
        ctx.update(
            kernel=kernel,
            initrd=initrd,
            kernel_url=f"{base}/{kernel}",
            initrd_url=f"{base}/{initrd}",
            initrd_name=PurePosixPath(initrd).name,
            kernel_params=_kernel_params(decision, base),
        )
    return ctx


def render(loader: str, decision: dict, base: str) -> str:
    """The `loader` (pxelinux, grub, ipxe) config for a boot decision; images from `base`."""
    if loader not in LOADERS:
        raise BootConfigError(f"unknown boot loader {loader!r}")
    ctx = _context(decision, base)
    kind = "local" if ctx["action"] == "local" else "ephemeral"
    return _template(f"{loader}-{kind}").substitute(ctx)


def render_pxelinux(decision: dict, base: str) -> str:
    """pxelinux.cfg/01-<mac> (or default) for a boot decision."""
    return render("pxelinux", decision, base)


def render_grub(decision: dict, base: str) -> str:
    """grub/grub.cfg-<mac> for a boot decision."""
    return render("grub", decision, base)


def render_ipxe(decision: dict, base: str) -> str:
    """The per-MAC iPXE script for a boot decision."""
    return render("ipxe", decision, base)


def render_grub_bootstrap() -> str:
    """grub/grub.cfg: loads grub/grub.cfg-<mac> for the MAC GRUB booted from."""
    return _template("grub-bootstrap").substitute({})


def render_ipxe_bootstrap(base: str) -> str:
    """/ipxe/boot.ipxe: chains to the per-MAC script on the same server."""
    return _template("ipxe-bootstrap").substitute(http_base=base)
