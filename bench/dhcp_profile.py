"""Where bootsvc's DHCP time goes: cProfile of `python -m bootsvc.dhcp` under perfdhcp load.

Run as root: `.venv/bin/python bench/dhcp_profile.py [--rate 5000] [--seconds 10]`. Same two
namespaces as bench/dhcp_bench.py; prints the functions by own time and by cumulative time.
"""
import argparse
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench.dhcp_bench import bootsvc_cmd, network, perfdhcp  # noqa: E402
from tests.netlab import NetLab  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with NetLab("bp") as lab, tempfile.TemporaryDirectory() as tmp:
        network(lab)
        profile = Path(tmp) / "dhcp.prof"
        cmd = bootsvc_cmd(Path(tmp))
        cmd[1:3] = ["-m", "cProfile", "-o", str(profile), "-m", "bootsvc.dhcp"]
        server = lab.popen(lab.srv, cmd, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL)
        time.sleep(2)
        print(perfdhcp(lab, args.rate, args.seconds), flush=True)
        server.send_signal(signal.SIGINT)
        server.wait(30)
        stats = pstats.Stats(str(profile))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
