"""A PostgreSQL cluster of a test's own: lab/ha/cluster.py's, skipping (or failing when CI=true)
when patroni or etcd is not installed. Never the machine's shared PostgreSQL."""
from lab.ha import cluster
from lab.ha.cluster import TIMING, Etcd, PatroniNode  # noqa: F401  (the tests' names)
from tests.processes import skip_or_fail


class Cluster(cluster.Cluster):
    """etcd and `size` Patroni nodes (lab/ha/cluster.py), a missing binary a skip."""

    def __init__(self, size: int = 2, scope: str = "maas-test") -> None:
        super().__init__(size, scope, missing=skip_or_fail)
