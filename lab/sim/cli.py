"""`python -m lab.sim`: run simulated machines against a region (see lab/sim/__init__.py).

Which machines run:
- as their fake BMCs power them on (the supported way, `make demo SIMULATED=1`): --power-dir
  DIR (the fake driver's FAKE_POWER_STATE_DIR, shared with the rack worker), --rack-credentials
  and the fleet: --count N (fake ids PREFIX-01..., MACs 02:5a:00:00:..), or --bmcs-file (lines
  `FAKE_ID MAC`). --power-on-new presses the power button of the machines whose BMC has no
  state yet: they netboot and, unknown to the region, enlist. --lease-network CIDR gives each
  machine its own address there (the rack API records it as a DHCP lease; the machine's calls
  come from it), so that metadata tokens work with the region's default
  METADATA_TOKEN_SOURCES=leases. One JSON line per boot goes to --records; the process ends
  after --exit-after boots, at --timeout or at SIGTERM/SIGINT.
- one job each, at once (benchmarks): --machine SYSTEM_ID:TOKEN ..., --machines-file FILE, or
  --rack-credentials with --macs-file (each MAC's boot decision carries metal.system_id and
  metal.token on its kernel command line, as bootsvc would render it).

Prints one JSON summary line (machines, jobs, failures, http_errors, seconds).
"""
import argparse
import ipaddress
import json
import signal
import sys
from pathlib import Path

from lab.sim.fleet import Fleet, FleetBusy
from lab.sim.runner import machines_from_boot_decisions, run_all

MAC_PREFIX = "02:5a:00:00"  # locally administered: never a real NIC's


def fleet_bmcs(count: int, prefix: str) -> dict[str, str]:
    """{fake id: MAC} of `count` simulated machines."""
    return {f"{prefix}-{index:02d}": f"{MAC_PREFIX}:{index >> 8 & 255:02x}:{index & 255:02x}"
            for index in range(1, count + 1)}


def fleet_addresses(bmcs: dict[str, str], network: str) -> dict[str, str]:
    """Each machine's address in `network`, from its 10th host on, in fleet order."""
    hosts = ipaddress.ip_network(network).hosts()
    for _ in range(9):
        next(hosts)
    return {fake_id: str(next(hosts)) for fake_id in bmcs}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.sim",
                                     description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--region", required=True, help="region URL as the rack reaches it, e.g. "
        "http://127.0.0.1:5240/ (netbooted machines then use their metal.region=)")
    add("--machine", action="append", help="SYSTEM_ID:TOKEN (repeatable)")
    add("--machines-file", help="file of SYSTEM_ID:TOKEN lines")
    add("--rack-credentials", help="the rack's credentials.json (boot decisions, leases)")
    add("--macs-file", help="file of MACs whose boot decisions to read")
    add("--power-dir", help="fake BMC state directory to watch (boot on power)")
    add("--bmcs-file", help="with --power-dir: lines `FAKE_ID MAC`")
    add("--count", type=int, default=0, help="with --power-dir: N machines PREFIX-01...")
    add("--prefix", default="sim", help="fake id prefix of --count machines")
    add("--power-on-new", action="store_true", help="power on machines with no BMC state")
    add("--lease-network", default="", help="each machine's address in this network")
    add("--self-poweroff", action=argparse.BooleanOptionalAction, default=True,
        help="a job answered poweroff=1 powers its machine off, as runner.sh does")
    add("--records", default="", help="with --power-dir: JSON line per boot")
    add("--exit-after", type=int, default=0, help="with --power-dir: boots")
    add("--timeout", type=float, default=0.0, help="with --power-dir: seconds")
    add("--concurrency", type=int, default=0,
        help="machines at a time (default 64; every machine with --power-dir)")
    add("--script-seconds", type=float, default=0.0)
    add("--fail", action="append", default=[], help="script names that fail")
    args = parser.parse_args(argv)
    if args.power_dir and not (args.rack_credentials and (args.bmcs_file or args.count)):
        parser.error("--power-dir needs --rack-credentials and --bmcs-file or --count")
    return args


def _machines(args) -> list[tuple]:
    pairs = list(args.machine or [])
    if args.machines_file:
        pairs += [line.strip() for line in Path(args.machines_file).read_text().splitlines()
                  if line.strip()]
    machines = [tuple(pair.split(":", 1)) for pair in pairs]
    if args.rack_credentials and args.macs_file:
        credentials = json.loads(Path(args.rack_credentials).read_text())
        macs = Path(args.macs_file).read_text().split()
        machines += machines_from_boot_decisions(args.region, credentials, macs)
    return machines


def make_fleet(args) -> Fleet:
    bmcs = fleet_bmcs(args.count, args.prefix) if args.count else {}
    if args.bmcs_file:
        bmcs.update(line.split() for line in Path(args.bmcs_file).read_text().splitlines()
                    if line.strip())
    return Fleet(args.region, json.loads(Path(args.rack_credentials).read_text()), bmcs,
                 args.power_dir, records=args.records, concurrency=args.concurrency,
                 script_seconds=args.script_seconds, fail=frozenset(args.fail),
                 addresses=fleet_addresses(bmcs, args.lease_network)
                 if args.lease_network else None, self_poweroff=args.self_poweroff)


def run_fleet(args) -> dict:
    fleet = make_fleet(args)
    try:
        fleet.attach()
    except FleetBusy as exc:
        raise SystemExit(f"lab.sim: {exc}") from None
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: fleet.stopping.set())
    pressed = fleet.power_on_new() if args.power_on_new else []
    print(json.dumps({"watching": len(fleet.machines), "power_dir": args.power_dir,
                      "powered_on": pressed}), flush=True)
    return fleet.run(args.exit_after, args.timeout)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.power_dir:
        summary = run_fleet(args)
    else:
        summary = run_all(args.region, _machines(args), concurrency=args.concurrency or 64,
                          script_seconds=args.script_seconds, fail=frozenset(args.fail))
    print(json.dumps({key: value for key, value in summary.items() if key != "results"}),
          flush=True)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
