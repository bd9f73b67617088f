"""Drive a lab BMC with our IPMI driver (run inside the lab: the BMCs listen there).

`python -m lab.ipmi ADDRESS PORT USER PASSWORD on|off|cycle|query [--netboot]` prints
{"before": state, "after": state} as JSON.
"""
import argparse
import json
import sys

from power.drivers.ipmi import IPMIDriver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.ipmi", description=__doc__)
    for name in ("address", "port", "user", "password"):
        parser.add_argument(name)
    parser.add_argument("action", choices=("on", "off", "cycle", "query"))
    parser.add_argument("--netboot", action="store_true", help="one-time PXE boot (on, cycle)")
    args = parser.parse_args(argv)
    driver = IPMIDriver({"power_address": args.address, "power_port": int(args.port),
                         "power_user": args.user, "power_pass": args.password})
    driver.timeout = 60  # qemu under TCG can be slow to start while the BMC waits for QMP
    before = driver.power_query()
    if args.action == "on":
        driver.power_on(netboot=args.netboot)
    elif args.action == "off":
        driver.power_off()
    elif args.action == "cycle":
        driver.power_cycle(netboot=args.netboot)
    print(json.dumps({"before": before, "after": driver.power_query()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
