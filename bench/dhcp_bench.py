"""DHCP throughput: the highest perfdhcp 4-way exchange rate each server holds with 0 drops.

Run as root on an idle machine: `.venv/bin/python bench/dhcp_bench.py [--seconds 30]`. Two
namespaces joined by a veth pair (no link to the root namespace); each server in turn on the
same network, in the same run: bootsvc (leases fsynced before each ACK leaves, group commit),
bootsvc with `--fsync interval` (fsync every 0.1 s, as servers that do not sync each lease),
Kea 2.2 memfile (persist on, no fsync per lease) and dnsmasq. There is no rate ceiling: for
each server the rate doubles with short probes until one drops a packet, a binary search
between the last clean and the first dropping rate finds the limit (to --resolution), and the
limit is then held for --seconds (stepping down by the resolution while the long run drops).
A run that drops is run once more, and a rate fails only when both drop (stray drops happen to
every server at rates it otherwise passes). Drops are split into requests the server's socket
had no room for and replies perfdhcp's one socket had no room for (a burst of replies).
The load average is recorded before and after each server.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.host import loadavg, machine_summary  # noqa: E402
from tests.netlab import NetLab  # noqa: E402

POOL = ("10.0.1.0", "10.0.255.250")
CLIENTS = 50000
START_RATE = {"dnsmasq": 100}  # the others start at 1,000/s


def bootsvc_cmd(tmp: Path, fsync: str = "before-reply") -> list[str]:
    config = {"dhcp": {"subnets": [{
        "cidr": "10.0.0.0/16", "gateway": "10.0.0.1", "dns_servers": ["10.0.0.1"],
        "lease_time": 3600, "allow_enlistment": False,
        "dynamic_ranges": [{"start": POOL[0], "end": POOL[1]}]}]}}
    (tmp / "bootsvc.json").write_text(json.dumps(config))
    return [sys.executable, "-m", "bootsvc.dhcp", "--config", str(tmp / "bootsvc.json"),
            "--interface", "s0", "--server-ip", "10.0.0.2", "--state-dir", str(tmp / "state"),
            "--fsync", fsync]


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


def rcvbuf_errors(lab: NetLab, namespace: str) -> int:
    """UDP datagrams the namespace's kernel dropped for a full socket receive buffer."""
    out = lab.run(namespace, ["nstat", "-az", "UdpRcvbufErrors"]).stdout.split()
    return int(out[out.index("UdpRcvbufErrors") + 1]) if "UdpRcvbufErrors" in out else -1


def perfdhcp(lab: NetLab, rate: int, seconds: int) -> dict:
    """One perfdhcp run. Besides its drops: the datagrams lost to full receive buffers on
    each side (`server_socket_full`: requests the server never read; `client_socket_full`:
    replies that reached perfdhcp's one socket in a burst larger than its buffer, which many
    real clients, a socket each, would not have lost)."""
    cmd = ["perfdhcp", "-4", "-l", "c0", "-r", str(rate), "-p", str(seconds), "-R",
           str(CLIENTS), "-W", "2000000"]
    before = rcvbuf_errors(lab, lab.srv), rcvbuf_errors(lab, lab.cli)
    out = lab.run(lab.cli, cmd, timeout=seconds + 60).stdout
    full = {"server_socket_full": rcvbuf_errors(lab, lab.srv) - before[0],
            "client_socket_full": rcvbuf_errors(lab, lab.cli) - before[1]}
    sent = [int(x) for x in re.findall(r"sent packets: (\d+)", out)]
    received = [int(x) for x in re.findall(r"received packets: (\d+)", out)]
    drops = [int(x) for x in re.findall(r"\ndrops: (\d+)", out)]
    if len(received) < 2:
        return {"rate": rate, "exchanges_s": 0.0, "drops": -1, "raw": out[-500:]}
    return {"rate": rate, "seconds": seconds, "discovers": sent[0], "acks": received[1],
            "exchanges_s": round(received[1] / seconds, 1), "drops": sum(drops), **full}


def clean(result: dict) -> bool:
    """No drop, and perfdhcp really offered the rate (else the client, not the server, is the
    limit and the run says nothing about the server)."""
    offered = result.get("discovers", 0) >= 0.95 * result["rate"] * result.get("seconds", 0)
    result["client_bound"] = not offered
    return result["drops"] == 0 and offered


def confirmed_clean(lab: NetLab, name: str, kind: str, rate: int, seconds: int,
                    runs: list, server=None) -> bool:
    """A run at rate without drops; a run that drops is run again, and the rate fails only if
    both drop: a stray drop (every server, Kea included, has some at rates it otherwise passes)
    must not end a search."""
    for _ in range(2):
        result = held_run(lab, server, rate, seconds) if server else perfdhcp(lab, rate, seconds)
        runs.append(result)
        print(name, kind, result, flush=True)
        if clean(result):
            return True
    return False


def find_limit(lab: NetLab, name: str, probe: int, resolution: int) -> tuple[int, list]:
    """The highest rate a probe completes without drops (0 if even the first drops)."""
    probes, low, rate = [], 0, START_RATE.get(name, 1000)
    while confirmed_clean(lab, name, "probe", rate, probe, probes):  # double until it drops
        low, rate = rate, rate * 2
    high = rate
    while high - low > max(resolution, low // 50):  # then halve the gap
        middle = (low + high) // 2
        if confirmed_clean(lab, name, "probe", middle, probe, probes):
            low = middle
        else:
            high = middle
    return low, probes


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def held_run(lab: NetLab, server, rate: int, seconds: int) -> dict:
    """perfdhcp at `rate` for `seconds`, with the server's CPU time per exchange."""
    cpu = cpu_seconds(server.pid)
    result = perfdhcp(lab, rate, seconds)
    if result.get("acks"):
        result["server_cpu_us_per_exchange"] = round(
            (cpu_seconds(server.pid) - cpu) / result["acks"] * 1e6, 1)
    return result


def measure(lab: NetLab, name: str, cmd: list[str], args) -> dict:
    server = lab.popen(lab.srv, cmd, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    time.sleep(2)
    load_before = loadavg()
    try:
        if args.rate:  # one fixed rate: the servers' CPU cost, robust to a busy machine
            held = held_run(lab, server, args.rate, args.seconds)
            print(name, "fixed", held, flush=True)
            return {"server": name, "probe_limit": None, "held": held,
                    "load_before": load_before, "load_after": loadavg(), "probes": []}
        limit, probes = find_limit(lab, name, args.probe, args.resolution)
        rate, held_runs = limit, []
        while rate > 0:
            if confirmed_clean(lab, name, "held", rate, args.seconds, held_runs, server):
                break
            rate -= max(args.resolution, rate // 50)
        held = held_runs[-1] if held_runs else None
        return {"server": name, "probe_limit": limit, "held": held if rate > 0 else None,
                "load_before": load_before, "load_after": loadavg(), "probes": probes,
                "held_runs": held_runs}
    finally:
        lab.kill(server)


SERVERS = {
    "bootsvc": (lambda tmp: bootsvc_cmd(tmp), "ip"),
    "bootsvc-interval": (lambda tmp: bootsvc_cmd(tmp, fsync="interval"), "ip"),
    "kea": (kea_cmd, "kea-dhcp4"),
    "dnsmasq": (dnsmasq_cmd, "dnsmasq"),
}


def network(lab: NetLab) -> None:
    """The server and client namespaces, joined by a veth pair (s0 10.0.0.2, c0 10.0.0.3)."""
    lab.srv, lab.cli = lab.netns("srv"), lab.netns("cli")
    lab.veth(lab.srv, "s0", lab.cli, "c0")
    lab.addr(lab.srv, "s0", "10.0.0.2/16")
    lab.addr(lab.cli, "c0", "10.0.0.3/16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=30, help="how long the limit is held")
    parser.add_argument("--probe", type=int, default=10, help="seconds of each probe")
    parser.add_argument("--resolution", type=int, default=250, help="exchanges/s")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rate", type=int, default=0,
                        help="only run this rate for --seconds (no limit search): compares "
                             "the servers' CPU time per exchange")
    args = parser.parse_args()
    results = {"machine": machine_summary(utc=True), "results": []}
    with NetLab("bn") as lab, tempfile.TemporaryDirectory() as tmp:
        network(lab)
        for name in args.servers.split(","):
            command, binary = SERVERS[name]
            if not shutil.which(binary):
                print(f"{name} not installed: skipped")
                continue
            run_dir = Path(tmp) / name
            run_dir.mkdir()
            results["results"].append(measure(lab, name, command(run_dir), args))
    print(json.dumps(results, indent=1))
    for result in results["results"]:
        held = result["held"] or {}
        print(f"{result['server']:>17}: probe limit {result['probe_limit']}/s, held "
              f"{held.get('exchanges_s', 0)}/s for {held.get('seconds', 0)} s with 0 drops, "
              f"{held.get('server_cpu_us_per_exchange')} µs server CPU per exchange "
              f"(load {result['load_before']} -> {result['load_after']})")


if __name__ == "__main__":
    main()
