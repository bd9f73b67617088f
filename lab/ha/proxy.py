"""haproxy in the foreground on a spare port, configured from lab/ha/haproxy.cfg, and what it
thinks of each region (the HA tests' through tests/ha/regions.py, and `make ha-demo`'s)."""
import socket
import subprocess
from pathlib import Path

from lab.ha.haproxy import render
from lab.ha.procs import binary, free_tcp_port, stop, unavailable, wait_until


class HAProxy:
    """haproxy in front of `regions`: (name, host:port of its web server) pairs, each sent at
    most `server_maxconn` requests at once (its web server's workers)."""

    def __init__(self, folder: Path, regions: list[tuple[str, str]], missing=unavailable,
                 port: int | None = None, server_maxconn: int = 1) -> None:
        haproxy = binary("haproxy", "apt-get install haproxy", missing)
        self.port = port or free_tcp_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.socket = folder / "haproxy.sock"
        self.log = folder / "haproxy.log"
        config = folder / "haproxy.cfg"
        config.write_text(render(f"127.0.0.1:{self.port}", [address for _, address in regions],
                                 str(self.socket), server_maxconn))
        # The servers are named region1, region2... in the order given.
        self.names = {name: f"region{n}" for n, (name, _) in enumerate(regions, start=1)}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def states(self) -> dict[str, str]:
        """Region name -> HAProxy's status of its server (UP, DOWN, "DOWN 1/1"...)."""
        assert self.process.poll() is None, "haproxy exited:\n" + self.log.read_text()
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(self.socket))
                client.sendall(b"show stat\n")
                text = b"".join(iter(lambda: client.recv(65536), b"")).decode()
        except OSError:
            return {}
        header, *rows = [line.split(",") for line in text.splitlines() if line]
        columns = {name: n for n, name in enumerate(header)}
        servers = {row[1]: row[columns["status"]] for row in rows if row[0] == "regions"}
        return {region: servers.get(server, "") for region, server in self.names.items()}

    def wait_all_up(self, timeout: float = 30) -> None:
        wait_until(lambda: set(self.states().values()) == {"UP"}, timeout,
                   lambda: f"{self.states()}\n{self.log.read_text()}")

    def stop(self) -> None:
        stop(self.process)
