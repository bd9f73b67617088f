"""Region and rack processes on hosts in network namespaces joined by one bridge: the lab, a
child environment that reaches the test database from a namespace, and a udhcpc client."""
import contextlib
import os
import shutil
from urllib.parse import quote

from django.db import connection

from tests.netlab import NetLab, unavailable_reason
from tests.processes import child_database_url, process_env, skip_or_fail

UDHCPC_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && echo "$ip $serverid" > {out}\nexit 0\n'


@contextlib.contextmanager
def udhcpc_netlab(prefix: str):
    """A NetLab for a test with a udhcpc client: skipped (failed when CI=true) without one."""
    reason = unavailable_reason() or (None if shutil.which("udhcpc") else "udhcpc is missing")
    if reason:
        skip_or_fail(reason)
    with NetLab(prefix) as net:
        yield net


def bridged_hosts(lab: NetLab, hosts: list[tuple[str, str | None]]) -> dict[str, str]:
    """Namespaces of `hosts` (name, address or None) on one bridge; name -> namespace."""
    names = {name: lab.netns(name) for name in ["br", *(host for host, _ in hosts)]}
    for index, (name, address) in enumerate(hosts):
        lab.veth(names[name], "eth0", names["br"], f"p{index}")
        if address:
            lab.addr(names[name], "eth0", f"{address}/24")
    lab.bridge(names["br"], "br0", [f"p{index}" for index in range(len(hosts))])
    return names


def namespace_env(**extra: str) -> dict[str, str]:
    """Child environment whose database is reachable from a namespace (no TCP to the root)."""
    url = child_database_url()
    if connection.vendor == "postgresql":
        url = f"postgres://postgres@{quote('/var/run/postgresql', safe='')}/" \
              f"{connection.settings_dict['NAME']}"
    return process_env(DATABASE_URL=url, **extra)


def udhcpc_lease(lab: NetLab, ns: str, tmp_path, mac: str,
                 take_address: bool = False) -> tuple[str, str]:
    """(address, server id) the client in `ns` gets for `mac`; with take_address the client
    then uses the address."""
    out, script = tmp_path / f"udhcpc-{mac[-2:]}.out", tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT.format(out=out))
    os.chmod(script, 0o755)
    for command in (["addr", "flush", "dev", "eth0"], ["link", "set", "eth0", "down"],
                    ["link", "set", "eth0", "address", mac], ["link", "set", "eth0", "up"]):
        lab.run(ns, ["ip", *command])
    result = lab.run(ns, ["udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s",
                          str(script)], timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    ip, server = out.read_text().split()
    if take_address:
        lab.run(ns, ["ip", "addr", "add", f"{ip}/24", "dev", "eth0"])
    return ip, server
