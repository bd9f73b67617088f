"""DHCP throughput: perfdhcp 4-way exchanges/s with 0 drops against bootsvc, dnsmasq and Kea.

Run as root: `.venv/bin/python bench/dhcp_bench.py [--seconds 30]`. Two namespaces joined by a
veth pair (no link to the root namespace); each server in turn on the same network. For each
server the rate is stepped up with short probes until drops appear, then the best zero-drop rate
is held for --seconds (stepping down when the long run drops packets).
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from tests.netlab import NetLab  # noqa: E402

POOL = ("10.0.1.0", "10.0.255.250")
CLIENTS = 50000
RATES = {"bootsvc": [2000, 3000, 4000, 5000, 6000], "dnsmasq": [100, 200, 300, 400, 500],
         "kea": [2000, 3000, 4000, 5000, 6000]}


def bootsvc_cmd(tmp: Path) -> list[str]:
    config = {"dhcp": {"subnets": [{
        "cidr": "10.0.0.0/16", "gateway": "10.0.0.1", "dns_servers": ["10.0.0.1"],
        "lease_time": 3600, "allow_enlistment": False,
        "dynamic_ranges": [{"start": POOL[0], "end": POOL[1]}]}]}}
    (tmp / "bootsvc.json").write_text(json.dumps(config))
    return [sys.executable, "-m", "bootsvc.dhcp", "--config", str(tmp / "bootsvc.json"),
            "--interface", "s0", "--server-ip", "10.0.0.2", "--state-dir", str(tmp / "state")]


def dnsmasq_cmd(tmp: Path) -> list[str]:
    return ["dnsmasq", "-d", "--conf-file=/dev/null", "--port=0", "--no-ping",
            "--interface=s0", "--bind-interfaces", "--dhcp-authoritative",
            f"--dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,3600", "--dhcp-lease-max=100000",
            f"--dhcp-leasefile={tmp / 'dnsmasq.leases'}", f"--pid-file={tmp / 'dnsmasq.pid'}",
            "--dhcp-option=3,10.0.0.1", "--dhcp-option=6,10.0.0.1"]


def kea_cmd(tmp: Path) -> list[str]:
    config = {"Dhcp4": {
        "interfaces-config": {"interfaces": ["s0"]},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": str(tmp / "kea-leases4.csv")},
        "valid-lifetime": 3600, "authoritative": True,
        "subnet4": [{"id": 1, "subnet": "10.0.0.0/16",
                     "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": "10.0.0.1"},
                                     {"name": "domain-name-servers", "data": "10.0.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                     "output_options": [{"output": str(tmp / "kea.log")}]}]}}
    (tmp / "kea.json").write_text(json.dumps(config))
    return ["env", f"KEA_PIDFILE_DIR={tmp}", f"KEA_LOCKFILE_DIR={tmp}", "kea-dhcp4", "-c",
            str(tmp / "kea.json")]


def perfdhcp(lab: NetLab, rate: int, seconds: int) -> dict:
    cmd = ["perfdhcp", "-4", "-l", "c0", "-r", str(rate), "-p", str(seconds), "-R",
           str(CLIENTS), "-W", "2000000"]
    out = lab.run(lab.cli, cmd, timeout=seconds + 60).stdout
    sent = [int(x) for x in re.findall(r"sent packets: (\d+)", out)]
    received = [int(x) for x in re.findall(r"received packets: (\d+)", out)]
    drops = [int(x) for x in re.findall(r"\ndrops: (\d+)", out)]
    if len(received) < 2:
        return {"rate": rate, "exchanges_s": 0.0, "drops": -1, "raw": out[-500:]}
    return {"rate": rate, "seconds": seconds, "discovers": sent[0], "acks": received[1],
            "exchanges_s": round(received[1] / seconds, 1), "drops": sum(drops)}


def measure(lab: NetLab, name: str, cmd: list[str], seconds: int, probe: int) -> dict:
    server = lab.popen(lab.srv, cmd, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    time.sleep(2)
    try:
        best, probes = None, []
        for rate in RATES[name]:
            result = perfdhcp(lab, rate, probe)
            probes.append(result)
            print(name, "probe", result, flush=True)
            if result["drops"] != 0:
                break
            best = rate
        candidates = [r for r in RATES[name] if best is not None and r <= best][::-1]
        for rate in candidates:
            sustained = perfdhcp(lab, rate, seconds)
            print(name, "sustained", sustained, flush=True)
            if sustained["drops"] == 0:
                return {"server": name, "best": sustained, "probes": probes}
        return {"server": name, "best": None, "probes": probes}
    finally:
        lab.kill(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--probe", type=int, default=10)
    parser.add_argument("--servers", default="bootsvc,dnsmasq,kea")
    args = parser.parse_args()
    results = []
    with NetLab("bn") as lab, tempfile.TemporaryDirectory() as tmp:
        lab.srv, lab.cli = lab.netns("srv"), lab.netns("cli")
        lab.veth(lab.srv, "s0", lab.cli, "c0")
        lab.addr(lab.srv, "s0", "10.0.0.2/16")
        lab.addr(lab.cli, "c0", "10.0.0.3/16")
        commands = {"bootsvc": bootsvc_cmd, "dnsmasq": dnsmasq_cmd, "kea": kea_cmd}
        for name in args.servers.split(","):
            binary = {"dnsmasq": "dnsmasq", "kea": "kea-dhcp4"}.get(name, "ip")
            if not shutil.which(binary):
                print(f"{name} not installed: skipped")
                continue
            run_dir = Path(tmp) / name
            run_dir.mkdir()
            results.append(measure(lab, name, commands[name](run_dir), args.seconds, args.probe))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
