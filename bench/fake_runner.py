"""The benchmarks' simulated machines: lab/sim (`python -m lab.sim`), the supported simulator.

Kept as a script for the benchmarks (bench/commission_bench.py runs it with
--no-self-poweroff, so that "Ready → BMC off" measures the region's power off) and for the
names they import; see lab/sim/cli.py for the options.

Usage: .venv/bin/python bench/fake_runner.py --region http://127.0.0.1:5240/ MACHINES...
           [--concurrency 64] [--script-seconds 0] [--fail SCRIPT_NAME ...]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.sim.cli import main  # noqa: E402
from lab.sim.runner import run_all  # noqa: E402

__all__ = ["main", "run_all"]

if __name__ == "__main__":
    sys.exit(main())
