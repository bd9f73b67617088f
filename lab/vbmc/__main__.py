"""Run virtual BMCs: `python -m lab.vbmc --port 6230` or `--config bmcs.json` for many."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from lab.vbmc.backends import DEFAULT_QEMU_COMMAND, Backend, MemoryBackend, QemuBackend
from lab.vbmc.server import BmcHost

CONFIG_HELP = """JSON file: {"bmcs": [{"port": 6230, "address": "127.0.0.1", "user": "admin",
"password": "password", "backend": "memory", "power": "off", "state_file": null}, {"port": 6231,
"backend": "qemu", "qmp": "/run/vm1.qmp", "command": "qemu-system-x86_64 ... -qmp
unix:{qmp},server=on,wait=off -boot order={boot_order}"}]}. Port 0 picks a free port."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.vbmc", description=__doc__,
                                     epilog=CONFIG_HELP)
    parser.add_argument("--config", help="JSON file listing the BMCs to run")
    parser.add_argument("--port", type=int, default=623, help="UDP port (first one with --count)")
    parser.add_argument("--count", type=int, default=1, help="BMCs on consecutive ports")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="password")
    parser.add_argument("--backend", choices=("memory", "qemu"), default="memory")
    parser.add_argument("--power", choices=("on", "off"), default="off", help="memory backend")
    parser.add_argument("--qmp", help="QMP unix socket path (qemu backend)")
    parser.add_argument("--qemu-command", default=DEFAULT_QEMU_COMMAND,
                        help="start command template with {qmp} and {boot_order}")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def specs_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The BMC list: from --config, else --count BMCs described by the other options."""
    if args.config:
        with open(args.config) as handle:
            return json.load(handle)["bmcs"]
    base = {"address": args.address, "user": args.user, "password": args.password,
            "backend": args.backend, "power": args.power, "qmp": args.qmp,
            "command": args.qemu_command}
    return [dict(base, port=args.port + i if args.port else 0) for i in range(args.count)]


def make_backend(spec: dict[str, Any]) -> Backend:
    kind = spec.get("backend", "memory")
    if kind == "memory":
        return MemoryBackend(power=spec.get("power", "off"), state_file=spec.get("state_file"))
    if kind == "qemu":
        if not spec.get("qmp"):
            raise SystemExit("The qemu backend needs a QMP socket path (qmp / --qmp).")
        return QemuBackend(spec["qmp"], command=spec.get("command") or DEFAULT_QEMU_COMMAND)
    raise SystemExit(f"Unknown backend {kind!r}")


def build(specs: list[dict[str, Any]]) -> BmcHost:
    host = BmcHost()
    for spec in specs:
        users = spec.get("users") or {spec.get("user", "admin"): spec.get("password", "password")}
        host.add(make_backend(spec), users, port=int(spec.get("port", 0)),
                 address=spec.get("address", "127.0.0.1"), name=spec.get("name", ""))
    return host


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    host = build(specs_from_args(args))
    ready = [{"name": bmc.name, "address": bmc.address, "port": bmc.port}
             for bmc in host.bmcs.values()]
    print(json.dumps({"ready": ready}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: host.request_stop())
    try:
        host.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for bmc in list(host.bmcs.values()):
            host.remove(bmc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
