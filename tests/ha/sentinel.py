"""A Redis master, its replica and three Sentinels of a test's own: lab/ha/sentinel.py's,
skipping (or failing when CI=true) when redis-server is not installed."""
from pathlib import Path

from lab.ha import sentinel
from lab.ha.sentinel import DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS, MASTER_NAME  # noqa: F401
from tests.processes import skip_or_fail


class SentinelGroup(sentinel.SentinelGroup):
    """Master, replica and three Sentinels (lab/ha/sentinel.py), a missing binary a skip."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, missing=skip_or_fail)
