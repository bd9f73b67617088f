"""Power app models."""
from power.models.bmc import BMC

__all__ = ["BMC"]
