"""`make demo`: the region (as `make run`, without its local rack) plus a lab whose VMs are
registered as machines with IPMI power. Ctrl-C tears everything down.

Everything goes through processes and the REST API: the admin key comes from
$VAR_DIR/admin-credentials, the rack secret from `manage.py rack_secret`.
"""
import argparse
import os
import signal
import sys
import time
from pathlib import Path

from lab import region, simdemo
from lab.api import Api, ApiError, api_key_from
from lab.core import DYNAMIC_RANGE, NETWORK, Lab, LabBusy, LabConfig
from lab.prerequisites import unmet_reason
from lab.state import default_state_dir

PROJECT_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = Path(os.environ.get("VAR_DIR") or PROJECT_DIR / "var")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__)
    parser.add_argument("--vms", type=int, default=2)
    parser.add_argument("--racks", type=int, choices=(1, 2), default=1)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--port", type=int, default=5240, help="region on 127.0.0.1:PORT")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    parser.add_argument("--simulated", action="store_true",
                        help="no qemu, no root: simulated machines (lab/simdemo.py)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="--simulated: seconds for the machines to enlist and commission")
    return parser.parse_args(argv)


def make_lab(args: argparse.Namespace) -> Lab:
    return Lab(LabConfig(state_dir=args.state_dir, vms=args.vms, racks=args.racks,
                         memory=args.memory, region_port=args.port,
                         broker_url=os.environ.get("CELERY_BROKER_URL", ""),
                         broker_dir=str(VAR_DIR.resolve() / "broker"),
                         rack_secret=region.rack_secret(PROJECT_DIR)))


def start(lab: Lab, web_workers: int) -> None:
    """Region (web, worker, beat) in the root namespace, then the lab around the portal."""
    lab.start_network()
    lab.start_portals()
    lab.start_bmcs()
    lab.start_region(lab.config.env, beat=True, web_workers=web_workers)
    lab.start_racks()
    lab.state.set(phase="up")


def first(items: list[dict]) -> dict | None:
    return items[0] if items else None


def configure_network(api: Api, lab: Lab) -> dict:
    """Fabric `lab`, its untagged VLAN with DHCP on the lab racks, 10.99.0.0/24, a range."""
    racks = []
    for rack in lab.racks:
        log = rack.log
        racks.append(api.wait_for(f"racks/?name={rack.name}", first, 90,
                                  lambda log=log: f"(rack log: {log})"))
    fabric = first(api.items("fabrics/?name=lab")) or api.post("fabrics/", {"name": "lab"})
    vlan = first(api.items(f"vlans/?fabric={fabric['id']}&vid=0"))
    subnet = first(api.items(f"subnets/?cidr={NETWORK}")) or api.post(
        "subnets/", {"cidr": NETWORK, "vlan": vlan["id"], "name": "lab"})
    if not api.items(f"ipranges/?subnet={subnet['id']}&type=dynamic"):
        api.post("ipranges/", {"subnet": subnet["id"], "type": "dynamic",
                               "start_ip": DYNAMIC_RANGE[0], "end_ip": DYNAMIC_RANGE[1]})
    dhcp = {"dhcp_on": True, "primary_rack": racks[0]["system_id"],
            "secondary_rack": racks[1]["system_id"] if len(racks) > 1 else None}
    return api.patch(f"vlans/{subnet['vlan']}/", dhcp)


# Statuses whose job runs on the VM: gone with the lab, so it could never finish.
IN_PROGRESS = ("Commissioning", "Testing", "Deploying", "Disk erasing")


def abort_unfinished(api: Api, macs: list[str], reason: str) -> list[str]:
    """Abort the lab machines whose job is in progress, the reason in the event; their ids."""
    aborted = []
    for mac in macs:
        for machine in api.items(f"machines/?mac_address={mac}"):
            if machine["status_name"] in IN_PROGRESS:
                api.post(f"machines/{machine['system_id']}/abort/", {"comment": reason})
                aborted.append(machine["system_id"])
    return aborted


def register_machines(api: Api, lab: Lab) -> list[dict]:
    """Each VM as a machine (New) with IPMI power; reused when its MAC is already known."""
    abort_unfinished(api, [vm.mac for vm in lab.vms], "an earlier make demo stopped without "
                     "cleaning up: its VMs were gone")
    machines = []
    for vm in lab.vms:
        found = api.items(f"machines/?mac_address={vm.mac}")
        machine = found[0] if found else api.post("machines/", {
            "hostname": vm.name, "architecture": "amd64/generic", "mac_addresses": [vm.mac],
            "power_type": "ipmi", "power_parameters": vm.power_parameters})
        api.post(f"machines/{machine['system_id']}/query-power-state/")
        machines.append(machine)
    for machine in machines:  # the query went region -> rack worker -> IPMI -> vBMC and back
        api.wait_for(f"machines/?hostname={machine['hostname']}",
                     lambda items: items and items[0]["power_state"] != "unknown", 90)
    return [api.items(f"machines/?hostname={m['hostname']}")[0] for m in machines]


def print_next_steps(lab: Lab, machines: list[dict], port: int) -> None:
    api = f"http://127.0.0.1:{port}/api/v1"
    print(lab.describe())
    print("\nMachines (power through the rack's IPMI driver to the lab's virtual BMCs):")
    for machine, vm in zip(machines, lab.vms, strict=True):
        print(f"  {machine['hostname']} {machine['system_id']} {machine['status_name']}, "
              f"power {machine['power_state']}, console: tail -f {vm.console}")
    first = machines[0]["system_id"]
    print(f"""
Try (KEY from {VAR_DIR / 'admin-credentials'}; H="Authorization: Bearer $KEY"):
  curl -H "$H" {api}/machines/
  curl -H "$H" -X POST {api}/machines/{first}/commission/    # powers on, netboots the VM
  tail -f {lab.vms[0].console}
  curl -H "$H" "{api}/events/?machine={first}"                 # boot timeline
  python -m lab status --state-dir {lab.state.dir}
Ctrl-C stops the region and the lab and removes the lab.""", flush=True)


def stop_jobs(api: Api, lab: Lab) -> None:
    """Before the VMs go: abort their jobs, so that the next start can act on the machines."""
    try:
        aborted = abort_unfinished(api, [vm.mac for vm in lab.vms],
                                   "make demo stopped: the lab's VMs are gone")
    except (OSError, ValueError, ApiError) as exc:  # region gone: the next start aborts
        print(f"Could not abort the machines' jobs ({exc}); the next make demo will.")
        return
    if aborted:
        print(f"Aborted the jobs of {', '.join(aborted)}.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.simulated:
        return simdemo.main(args)
    reason = unmet_reason()
    if reason:  # before anything starts: VMs without loaders would sit in Commissioning
        print(f"demo: {reason}", file=sys.stderr)
        return 2
    lab = make_lab(args)
    try:
        lab.prepare()
    except LabBusy as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    stop: list[int] = []
    api = None
    try:
        start(lab, args.web_workers)
        api = Api(f"http://127.0.0.1:{args.port}", api_key_from(VAR_DIR / "admin-credentials"))
        configure_network(api, lab)
        print_next_steps(lab, register_machines(api, lab), args.port)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda sig, _: stop.append(sig))
        while not stop and all(p.poll() is None for p in lab.processes.values()):
            time.sleep(0.5)
        if not stop:
            print("A region or lab process exited; stopping (logs in "
                  f"{lab.state.logs_dir}).", file=sys.stderr)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # make passes Ctrl-C on too
            signal.signal(signum, signal.SIG_IGN)
        print("Stopping the region and the lab...", flush=True)
        if api is not None:
            stop_jobs(api, lab)
        lab.down()
    return 0 if stop else 1


if __name__ == "__main__":
    sys.exit(main())
