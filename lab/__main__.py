"""`python -m lab up|down|status`: the lab of qemu VMs, BMCs and racks (see README, "Lab").

`up` builds the lab and stays in the foreground (Ctrl-C or SIGTERM tears it down); `--detach`
returns once it is up. The region is expected on 127.0.0.1:--region-port (`make demo` starts one).
`down` is idempotent and works after a crash, from the state dir alone.
"""
import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from lab import cleanup, netns, region
from lab.core import Lab, LabBusy, LabConfig, describe
from lab.rack import Rack
from lab.state import LabState, default_state_dir
from lab.vm import FIRMWARES, VM
from lab.vm import unavailable_reason as vm_unavailable_reason

PROJECT_DIR = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build the lab (foreground unless --detach)")
    up.add_argument("--vms", type=int, default=2)
    up.add_argument("--racks", type=int, choices=(0, 1, 2), default=1)
    up.add_argument("--memory", type=int, default=512, help="MiB per VM")
    up.add_argument("--disk", type=int, default=4, help="GiB per VM disk (sparse)")
    up.add_argument("--firmware", choices=FIRMWARES, default="bios",
                    help="SeaBIOS, or OVMF (uefi-secureboot: Microsoft's keys enrolled)")
    up.add_argument("--region-port", type=int, default=5240,
                    help="the region's port on 127.0.0.1 in the root namespace")
    up.add_argument("--rack-secret", default=os.environ.get("RACK_SECRET", ""),
                    help="default: RACK_SECRET, else `manage.py rack_secret`")
    up.add_argument("--name", default="lab", help="names: NAME-vmN, NAME-rackN")
    up.add_argument("--detach", action="store_true", help="return once the lab is up")
    down = sub.add_parser("down", help="stop and delete everything of the lab")
    down.add_argument("--purge", action="store_true", help="also delete logs and consoles")
    down.add_argument("--all", action="store_true", help="every lab on this machine (mlab*)")
    status = sub.add_parser("status", help="what is up")
    status.add_argument("--json", action="store_true")
    for command in (up, down, status):
        command.add_argument("--state-dir", type=Path, default=default_state_dir())
    return parser.parse_args(argv)


def rack_secret(args: argparse.Namespace) -> str:
    if args.rack_secret or not args.racks:
        return args.rack_secret
    return region.rack_secret(PROJECT_DIR)


def config_from(args: argparse.Namespace) -> LabConfig:
    var_dir = Path(os.environ.get("VAR_DIR") or PROJECT_DIR / "var").resolve()
    return LabConfig(state_dir=args.state_dir, vms=args.vms, racks=args.racks,
                     memory=args.memory, disk_gib=args.disk, region_port=args.region_port,
                     broker_url=os.environ.get("CELERY_BROKER_URL", ""),
                     broker_dir=str(var_dir / "broker"), rack_secret=rack_secret(args),
                     name=args.name, firmware=args.firmware)


def up(args: argparse.Namespace) -> int:
    reason = netns.unavailable_reason() or (vm_unavailable_reason() if args.vms else None)
    if reason:
        print(f"lab: {reason}", file=sys.stderr)
        return 2
    lab = Lab(config_from(args))
    stop = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.append(True))
    try:
        lab.up()
    except LabBusy as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except BaseException:
        lab.down()
        raise
    print(lab.describe(), flush=True)
    if args.detach:
        print(f"Lab is up; stop it with: python -m lab down --state-dir {lab.state.dir}")
        return 0
    print("Lab is up; Ctrl-C stops it and removes everything.", flush=True)
    supervise(lab, stop)
    print("Stopping the lab...", flush=True)
    lab.down()
    return 0


def supervise(lab: Lab, stop: list) -> None:
    """Wait for a signal; report lab processes that exit meanwhile."""
    reported = set()
    while not stop:
        for name, process in lab.processes.items():
            if name not in reported and process.poll() is not None:
                reported.add(name)
                print(f"lab: {name} exited with {process.returncode} "
                      f"(log: {lab.log(name)})", file=sys.stderr, flush=True)
        time.sleep(0.5)


def down(args: argparse.Namespace) -> int:
    result = cleanup.down_all() if args.all else cleanup.down(args.state_dir, purge=args.purge)
    print(f"lab down: stopped {result['processes']} processes, deleted namespaces "
          f"{' '.join(result['namespaces']) or '(none)'}")
    return 0


def status(args: argparse.Namespace) -> int:
    state = LabState.load(args.state_dir)
    vms = [VM(**vm) for vm in state.data.get("vms", [])]
    live = {p["pid"] for p in state.live_processes()}
    report = {"state_dir": str(state.dir), "prefix": state.prefix,
              "phase": state.data["phase"] if state.exists() else "down",
              "namespaces": netns.namespaces(state.prefix),
              "processes": {p["name"]: p["pid"] in live for p in state.data["processes"]},
              "vms": {vm.name: "on" if vm.running() else "off" for vm in vms}}
    if args.json:
        print(json.dumps({**state.data, **report}, indent=1))
        return 0 if report["namespaces"] else 3
    print(describe(state.dir, state.data.get("region_url", "-"), vms,
                   [Rack(**rack) for rack in state.data.get("racks", [])]))
    print(f"  phase {report['phase']}; namespaces: {' '.join(report['namespaces']) or 'none'}")
    for name, alive in report["processes"].items():
        print(f"  process {name}: {'running' if alive else 'gone'}")
    for name, power in report["vms"].items():
        print(f"  {name}: qemu {power}")
    return 0 if report["namespaces"] else 3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
