"""Fixtures of the power tests: the IPMI driver's tests run against the lab's virtual BMCs."""
# Imported, not copied: tests/vbmc owns the vBMC fixtures; pytest finds them here by name.
from tests.vbmc.conftest import ipmi_params, vbmc, vbmc_factory  # noqa: F401
