"""Render lab/ha/patroni.yml: one Patroni node of the region's PostgreSQL cluster.

python -m lab.ha.patroni --name pg1 --address 10.0.0.21 --etcd 10.0.0.31:2379 \
    --network 10.0.0.0/24 --superuser-password S --replication-password R > /etc/patroni/config.yml
"""
import argparse
import glob
import json
from pathlib import Path

TEMPLATE = Path(__file__).with_name("patroni.yml")


def default_bin_dir() -> str:
    """The newest installed PostgreSQL's bin/ (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else "/usr/lib/postgresql/15/bin"


def _password(value: str | None) -> str:
    return f"      password: {json.dumps(value)}" if value else ""


def render(name: str, address: str, etcd: list[str], *, network: str, data_dir: str,
           scope: str = "maas", pg_port: int = 5432, rest_port: int = 8008,
           bin_dir: str | None = None, auth: str = "scram-sha-256",
           superuser_password: str | None = None, replication_password: str | None = None,
           socket_dir: str = "/var/run/postgresql", timing: tuple[int, int, int] = (20, 2, 5),
           ) -> str:
    """The configuration text of node `name` at `address`; `timing`: ttl, loop_wait,
    retry_timeout in seconds (failover within ttl + loop_wait; Patroni's are 30, 10, 10)."""
    if not etcd:
        raise ValueError("at least one etcd host:port is needed")
    hba = ["local all all peer", f"host replication replicator {network} {auth}",
           f"host all all {network} {auth}"]
    ttl, loop_wait, retry_timeout = timing
    return TEMPLATE.read_text().format(
        scope=scope, name=name, etcd_hosts=",".join(etcd),
        rest_listen=f"{address}:{rest_port}", rest_address=f"{address}:{rest_port}",
        pg_listen=f"{address}:{pg_port}", pg_address=f"{address}:{pg_port}",
        data_dir=data_dir, bin_dir=bin_dir or default_bin_dir(), socket_dir=socket_dir,
        pg_hba="\n".join(f"    - {line}" for line in hba), ttl=ttl, loop_wait=loop_wait,
        retry_timeout=retry_timeout, superuser_password=_password(superuser_password),
        replication_password=_password(replication_password))


def main(argv: list[str] | None = None) -> None:
    """Print one node's configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="this node's name, unique in the cluster")
    parser.add_argument("--address", required=True, help="this node's address others reach")
    parser.add_argument("--etcd", action="append", required=True,
                        help="an etcd member's host:port (repeat for each member)")
    parser.add_argument("--network", required=True, help="where regions and nodes connect from")
    parser.add_argument("--data-dir", default="/var/lib/postgresql/patroni")
    parser.add_argument("--scope", default="maas")
    parser.add_argument("--superuser-password")
    parser.add_argument("--replication-password")
    args = parser.parse_args(argv)
    print(render(args.name, args.address, args.etcd, network=args.network,
                 data_dir=args.data_dir, scope=args.scope,
                 superuser_password=args.superuser_password,
                 replication_password=args.replication_password), end="")


if __name__ == "__main__":
    main()
