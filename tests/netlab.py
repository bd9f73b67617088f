"""The network-namespace helpers for protocol tests; they live in lab.netns (re-exported here)."""
from lab.netns import NetLab, unavailable_reason

__all__ = ["NetLab", "unavailable_reason"]
