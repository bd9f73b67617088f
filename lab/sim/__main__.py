"""`python -m lab.sim`: simulated machines (lab/sim/cli.py)."""
import sys

from lab.sim.cli import main

if __name__ == "__main__":  # importing the module (the requirements test imports all) runs nothing
    sys.exit(main())
