"""python-libmaas 0.6.8's Interfaces.create against a live region: a physical interface, a bond
of two, a bridge over it and a VLAN interface; an update (save) and a delete."""
import pytest

from nodes.choices import NodeStatus
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    MachineFactory,
    VLANFactory,
    make_api_key,
)

maas_client = pytest.importorskip("maas.client", reason="python-libmaas (requirements-dev.txt)")
from maas.client.enum import InterfaceType  # noqa: E402


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_libmaas_creates_physical_bond_bridge_and_vlan_interfaces(live_server):
    untagged = VLANFactory(vid=0)
    tagged = VLANFactory(fabric=untagged.fabric, vid=42)
    machine = MachineFactory(status=NodeStatus.READY)
    eth0 = InterfaceFactory(machine=machine, name="eth0", vlan=untagged,
                            mac_address="52:54:00:60:00:00")
    client = maas_client.connect(live_server.url + "/MAAS/",
                                 apikey=make_api_key(AdminFactory()))
    sid = machine.system_id  # the facade has no interfaces: the origin's class, as libmaas's own
    eth1 = client._origin.Interfaces.create(sid, InterfaceType.PHYSICAL,
                                    mac_address="52:54:00:60:00:01", vlan=untagged.id)
    assert (eth1.name, eth1.type, eth1.vlan.id) == ("eth1", InterfaceType.PHYSICAL, untagged.id)
    bond = client._origin.Interfaces.create(sid, InterfaceType.BOND, name="bond0",
                                    parents=[eth0.id, eth1.id], bond_mode="balance-alb",
                                    bond_miimon=200)
    assert (bond.type, bond.mac_address) == (InterfaceType.BOND, "52:54:00:60:00:00")
    assert (bond.params["bond_mode"], bond.params["bond_miimon"]) == ("balance-alb", 200)
    assert sorted(parent.name for parent in bond.parents) == ["eth0", "eth1"]
    bridge = client._origin.Interfaces.create(sid, InterfaceType.BRIDGE, name="br-ex", parent=bond,
                                      bridge_fd=5)
    assert (bridge.type, bridge.params["bridge_fd"]) == (InterfaceType.BRIDGE, 5)
    vlan = client._origin.Interfaces.create(sid, InterfaceType.VLAN, parent=bridge, vlan=tagged.id)
    assert (vlan.name, vlan.type, vlan.vlan.vid) == ("br-ex.42", InterfaceType.VLAN, 42)
    bridge.name = "br-int"
    bridge.save()
    names = sorted(i.name for i in client._origin.Interfaces.read(sid))
    assert names == ["bond0", "br-int", "br-int.42", "eth0", "eth1"]
    vlan.delete()
    bond.delete()  # the bridge over it goes too: it has no parent left
    assert sorted(i.name for i in client._origin.Interfaces.read(sid)) == ["eth0", "eth1"]
