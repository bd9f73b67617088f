"""Simulated machines: fake BMCs that "boot" into a simulated ephemeral environment.

`python -m lab.sim` (lab/sim/cli.py) plays, for each simulated machine, what firmware, bootsvc
and the ephemeral environment's runners do, over the same HTTP APIs (the rack API for the boot
decision and the DHCP lease, the metadata API for jobs), without qemu or root.
"""
