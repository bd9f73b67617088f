"""Render lab/ha/haproxy.cfg: HAProxy on one address in front of the given regions' web servers.

python -m lab.ha.haproxy --listen 0.0.0.0:5240 --region 10.0.0.11:5240 --region 10.0.0.12:5240 \
    --server-maxconn 4
"""
import argparse
from pathlib import Path

TEMPLATE = Path(__file__).with_name("haproxy.cfg")
STATS_SOCKET = "/run/haproxy/regions.sock"
# Requests one region's web server is sent at once: its gunicorn sync workers (× threads).
SERVER_MAXCONN = 4


def render(listen: str, regions: list[str], stats_socket: str = STATS_SOCKET,
           server_maxconn: int = SERVER_MAXCONN) -> str:
    """The configuration text: `listen` in front of `regions` (host:port each), round-robin,
    at most `server_maxconn` requests in flight per region (HAProxy queues the rest)."""
    if not regions:
        raise ValueError("at least one region (host:port) is needed")
    if server_maxconn < 1:
        raise ValueError("--server-maxconn must be at least 1")
    servers = "\n".join(f"    server region{n} {address} check"
                        for n, address in enumerate(regions, start=1))
    return TEMPLATE.read_text().format(listen=listen, servers=servers, stats_socket=stats_socket,
                                       server_maxconn=server_maxconn)


def main(argv: list[str] | None = None) -> None:
    """Print the configuration for --listen and each --region."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="address:port HAProxy binds")
    parser.add_argument("--region", action="append", required=True, dest="regions",
                        help="a region web server's host:port (repeat for each region)")
    parser.add_argument("--stats-socket", default=STATS_SOCKET)
    parser.add_argument("--server-maxconn", type=int, default=SERVER_MAXCONN,
                        help="requests in flight per region: its web server's workers (× threads)")
    args = parser.parse_args(argv)
    print(render(args.listen, args.regions, args.stats_socket, args.server_maxconn), end="")


if __name__ == "__main__":
    main()
