"""DHCP failover between two racks, all inside network namespaces: the primary serves, is
killed and stops heartbeating, the region marks it dead, and the secondary serves the VLAN
with the leases the region already knows, so no address is handed out twice.

Lab: a bridge namespace joins the region (gunicorn on the test database through PostgreSQL's
unix socket or the SQLite file; no link to the root namespace), two racks running bootsvc,
and a client running udhcpc.
"""
import sys
import threading
import time

import pytest
from django.db import connection

from tests.factories import FabricFactory, IPRangeFactory, SubnetFactory, VLANFactory
from tests.namespaced import bridged_hosts, namespace_env, udhcpc_lease, udhcpc_netlab
from tests.processes import PROJECT_DIR, wait_until
from zones.models import VLAN, DHCPLease, RackController
from zones.services.rackapi import rack_heartbeat, rack_register, rack_secret
from zones.services.racks import rack_status_sweep

REGION, RACK1, RACK2 = "10.99.0.1", "10.99.0.2", "10.99.0.3"
REGION_URL = f"http://{REGION}:5240/"


@pytest.fixture
def lab():
    with udhcpc_netlab("fo") as net:
        yield net


def build_network(lab) -> dict[str, str]:
    """Namespaces region, rack1, rack2 and client on one bridge; returns their names."""
    return bridged_hosts(lab, [("region", REGION), ("rack1", RACK1), ("rack2", RACK2),
                               ("client", None)])


class Heartbeats(threading.Thread):
    """Plays the racks' rackd heartbeats (every second) until a rack is dropped."""

    def __init__(self, racks: dict[str, tuple[RackController, str]]):
        super().__init__(daemon=True)
        self.racks, self.done = dict(racks), threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(1.0):
                for rack, address in list(self.racks.values()):
                    rack_heartbeat(rack, [{"name": "eth0", "mac": "", "addresses": [address]}],
                                   {})
        finally:
            connection.close()  # else the test database cannot be dropped at teardown


def udhcpc(lab, names, tmp_path, mac: str) -> tuple[str, str]:
    """(address, server id) the client gets for `mac`."""
    return udhcpc_lease(lab, names["client"], tmp_path, mac)


def start_bootsvc(lab, names, tmp_path, name: str, token: str, rack: RackController):
    credentials = tmp_path / f"{name}.json"
    credentials.write_text(f'{{"system_id": "{rack.system_id}", "token": "{token}"}}')
    log = tmp_path / f"{name}.log"
    process = lab.popen(names[name], [sys.executable, "-m", "bootsvc", "--region-url",
                                      REGION_URL, "--credentials", str(credentials)],
                        cwd=PROJECT_DIR, env=namespace_env(VAR_DIR=str(tmp_path / name)),
                        stdout=open(log, "wb"), stderr=-2)
    return process, log


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_secondary_takes_over_dhcp_with_the_known_leases(lab, tmp_path, settings):
    settings.RACK_DEAD_AFTER = 3
    names = build_network(lab)
    rack1, token1 = rack_register(rack_secret(), "fo-rack1", "1", [])
    rack2, token2 = rack_register(rack_secret(), "fo-rack2", "1", [])
    vlan = VLANFactory(fabric=FabricFactory(), vid=0)
    subnet = SubnetFactory(vlan=vlan, cidr="10.99.0.0/24")
    IPRangeFactory(subnet=subnet, start_ip="10.99.0.100", end_ip="10.99.0.150")
    VLAN.objects.filter(pk=vlan.pk).update(dhcp_on=True, primary_rack=rack1,
                                           secondary_rack=rack2)
    heartbeats = Heartbeats({"rack1": (rack1, f"{RACK1}/24"), "rack2": (rack2, f"{RACK2}/24")})
    heartbeats.start()
    region_log = tmp_path / "region.log"
    lab.popen(names["region"], [sys.executable, "-m", "gunicorn", "maasproject.wsgi", "-b",
                                f"{REGION}:5240", "-w", "1", "--threads", "8"],
              cwd=PROJECT_DIR, env=namespace_env(), stdout=open(region_log, "wb"), stderr=-2)
    rack1_process, rack1_log = start_bootsvc(lab, names, tmp_path, "rack1", token1, rack1)
    _, rack2_log = start_bootsvc(lab, names, tmp_path, "rack2", token2, rack2)
    logs = {"rack1": rack1_log, "rack2": rack2_log}
    everything = lambda: "\n".join(p.read_text()[-2500:] for p in [region_log, *logs.values()])  # noqa: E731
    try:
        wait_until(lambda: "DHCP listening" in logs["rack1"].read_text(), 60, everything)
        first_ip, server = udhcpc(lab, names, tmp_path, "02:00:00:00:01:01")
        assert server == RACK1
        wait_until(lambda: DHCPLease.objects.filter(ip=first_ip, state="active").exists(), 30,
                   everything)

        lab.kill(rack1_process, sig=9)  # rack1's bootsvc dies with its heartbeats
        heartbeats.racks.pop("rack1")
        killed = time.monotonic()
        wait_until(lambda: ("fo-rack1", "dead") in rack_status_sweep(), 30, everything)
        wait_until(lambda: "DHCP listening" in logs["rack2"].read_text(), 30, everything)
        second_ip, server = udhcpc(lab, names, tmp_path, "02:00:00:00:01:02")
        assert server == RACK2 and second_ip != first_ip
        assert time.monotonic() - killed < 30
        again, server = udhcpc(lab, names, tmp_path, "02:00:00:00:01:01")
        assert (again, server) == (first_ip, RACK2)
    finally:
        heartbeats.done.set()
        heartbeats.join(5)
