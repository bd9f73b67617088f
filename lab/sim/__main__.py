"""`python -m lab.sim`: simulated machines (lab/sim/cli.py)."""
import sys

from lab.sim.cli import main

sys.exit(main())
