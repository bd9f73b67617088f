"""nodes/{system_id}/interfaces/: create_physical, create_bond, create_bridge, create_vlan;
update and delete of an interface; who, when, field errors; the machine object's family."""
from urllib.parse import urlencode

import pytest
from django.test import Client

from nodes.choices import NodeStatus
from nodes.models import Interface, Machine
from tests.factories import (
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from tests.maasapi.conftest import API

pytestmark = pytest.mark.django_db


@pytest.fixture
def net():
    untagged = VLANFactory(vid=0)
    return {"untagged": untagged, "v100": VLANFactory(fabric=untagged.fabric, vid=100),
            "subnet": SubnetFactory(vlan=untagged, cidr="10.50.0.0/24")}


@pytest.fixture
def machine(net):
    """A Ready machine with eth0 and eth1 on the untagged VLAN."""
    machine = MachineFactory(status=NodeStatus.READY)
    for index in range(2):
        InterfaceFactory(machine=machine, name=f"eth{index}", vlan=net["untagged"],
                         mac_address=f"52:54:00:50:00:0{index}")
    return machine


def url(machine, interface=None, op: str = "") -> str:
    path = API + f"nodes/{machine.system_id}/interfaces/"
    if interface is not None:
        path += f"{interface.id if hasattr(interface, 'id') else interface}/"
    return path + (f"?op={op}" if op else "")


def ids(machine, *names) -> list[int]:
    return [machine.interfaces.get(name=name).pk for name in names]


def test_create_bond_bridge_and_vlan_and_the_machine_shows_the_family(maas_admin, machine, net):
    bond = maas_admin.post(url(machine, op="create_bond"), {
        "parents": ids(machine, "eth1", "eth0"), "bond_mode": "802.3ad", "mtu": "9000"})
    assert bond.status_code == 200, bond.content
    body = bond.json()
    assert (body["name"], body["type"], body["mac_address"], body["parents"]) == (
        "bond0", "bond", "52:54:00:50:00:01", ["eth0", "eth1"])
    assert body["params"]["bond_mode"] == "802.3ad" and body["effective_mtu"] == 9000
    assert body["vlan"]["id"] == net["untagged"].id
    assert body["resource_uri"] == f"/MAAS/api/2.0/nodes/{machine.system_id}/interfaces/" \
                                   f"{body['id']}/"
    bridge = maas_admin.post(url(machine, op="create_bridge"),
                             {"parent": body["id"], "bridge_stp": "true"}).json()
    assert (bridge["name"], bridge["parents"], bridge["params"]) == (
        "br0", ["bond0"], {"bridge_stp": True, "bridge_fd": 15})
    tagged = maas_admin.post(url(machine, op="create_vlan"),
                             {"parent": bridge["id"], "vlan": net["v100"].id})
    assert tagged.status_code == 200, tagged.content
    assert (tagged.json()["name"], tagged.json()["vlan"]["vid"]) == ("br0.100", 100)
    read = maas_admin.get(API + f"machines/{machine.system_id}/").json()
    family = {i["name"]: (i["type"], i["parents"], i["children"], i["mac_address"])
              for i in read["interface_set"]}
    assert family == {
        "eth0": ("physical", [], ["bond0"], "52:54:00:50:00:00"),
        "eth1": ("physical", [], ["bond0"], "52:54:00:50:00:01"),
        "bond0": ("bond", ["eth0", "eth1"], ["br0"], "52:54:00:50:00:01"),
        "br0": ("bridge", ["bond0"], ["br0.100"], "52:54:00:50:00:01"),
        "br0.100": ("vlan", ["br0"], [], "52:54:00:50:00:01")}
    assert read["boot_interface"]["name"] == "eth0"


def test_create_physical_urlencoded_as_gomaasapi_sends_it(maas_admin, machine, net):
    response = maas_admin.post(url(machine, op="create_physical"),
                               urlencode({"mac_address": "52:54:00:50:00:aa",
                                          "vlan": net["untagged"].id}),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["mac_address"]) == (
        "eth2", "52:54:00:50:00:aa")
    gomaas = maas_admin.post(url(machine, op="create_bond"),
                             urlencode([("parents", i) for i in ids(machine, "eth0", "eth1")]),
                             content_type="application/x-www-form-urlencoded")
    assert gomaas.json()["parents"] == ["eth0", "eth1"]


@pytest.mark.parametrize(("op", "data", "field"), [
    ("create_bond", {}, "parents"),
    ("create_bond", {"parents": "x"}, "parents"),
    ("create_bond", {"parents": "999999"}, "parents"),
    ("create_bond", {"parents": "{eth0}", "bond_mode": "fast"}, "bond_mode"),
    ("create_bond", {"parents": "{eth0}", "vlan": "999999"}, "vlan"),
    ("create_bond", {"parents": "{eth0}", "bond_miimon": "soon"}, "bond_miimon"),
    ("create_bridge", {"parent": ["{eth0}", "{eth1}"]}, "parent"),
    ("create_vlan", {"parent": "{eth0}"}, "vlan"),
    ("create_vlan", {"parent": "{eth0}", "vlan": "{untagged}"}, "vlan"),
    ("create_physical", {"mac_address": "52:54:00:50:00:00"}, "mac_address"),
    ("create_physical", {}, "mac_address"),
])
def test_field_errors_are_400_json_and_save_nothing(maas_admin, machine, net, op, data, field):
    names = {"{eth0}": str(ids(machine, "eth0")[0]), "{eth1}": str(ids(machine, "eth1")[0]),
             "{untagged}": str(net["untagged"].id)}
    data = {key: [names.get(v, v) for v in value] if isinstance(value, list)
            else names.get(value, value) for key, value in data.items()}
    before = Interface.objects.count()
    response = maas_admin.post(url(machine, op=op), data)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json" and field in response.json()
    assert Interface.objects.count() == before


def test_unauthenticated_401(machine):
    response = Client().post(url(machine, op="create_bond"), {"parents": ids(machine, "eth0")})
    assert response.status_code == 401
    assert Client().delete(url(machine, ids(machine, "eth0")[0])).status_code == 401


def test_users_cannot_create_interfaces_and_see_no_other_users_machines(maas_user, machine):
    before = Interface.objects.count()
    refused = maas_user.post(url(machine, op="create_bond"), {"parents": ids(machine, "eth0")})
    assert refused.status_code == 403  # Ready and unowned: visible, but admins only
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.ALLOCATED,
                                                 owner=UserFactory())
    hidden = maas_user.delete(url(machine, ids(machine, "eth0")[0]))
    assert hidden.status_code == 404
    assert Interface.objects.count() == before


def test_the_owner_updates_and_deletes_but_not_while_deployed(maas_admin, maas_user, machine):
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.ALLOCATED,
                                                 owner=maas_user.user)
    bond = maas_admin.post(url(machine, op="create_bond"),
                           {"parents": ids(machine, "eth0")}).json()
    updated = maas_user.put(url(machine, bond["id"]),
                            urlencode({"name": "uplink", "mtu": "1400", "bond_mode": "balance-rr"}),
                            content_type="application/x-www-form-urlencoded")
    assert updated.status_code == 200, updated.content
    assert (updated.json()["name"], updated.json()["effective_mtu"],
            updated.json()["params"]["bond_mode"]) == ("uplink", 1400, "balance-rr")
    bad = maas_user.put(url(machine, bond["id"]), urlencode({"bond_mode": "x"}),
                        content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400 and "bond_mode" in bad.json()
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    conflict = maas_user.delete(url(machine, bond["id"]))
    assert conflict.status_code == 409 and "Retry-After" not in conflict
    created = maas_admin.post(url(machine, op="create_physical"),
                              {"mac_address": "52:54:00:50:00:bb"})
    assert created.status_code == 409
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.ALLOCATED)
    deleted = maas_user.delete(url(machine, bond["id"]))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not Interface.objects.filter(pk=bond["id"]).exists()


def test_links_go_on_the_bond_not_its_members(maas_admin, machine, net):
    bond = maas_admin.post(url(machine, op="create_bond"),
                           {"parents": ids(machine, "eth0", "eth1")}).json()
    member = maas_admin.post(url(machine, ids(machine, "eth0")[0], "link_subnet"),
                             {"mode": "AUTO", "subnet": net["subnet"].id})
    assert member.status_code == 400
    linked = maas_admin.post(url(machine, bond["id"], "link_subnet"),
                             {"mode": "STATIC", "subnet": net["subnet"].id})
    assert linked.status_code == 200, linked.content
    assert linked.json()["links"][0]["ip_address"].startswith("10.50.0.")


def test_describe_lists_the_new_actions_with_params(machine):
    resources = {r["name"]: r for r in Client().get(API + "describe/").json()["resources"]}
    actions = {a["name"]: a for a in resources["InterfacesHandler"]["auth"]["actions"]}
    for op in ("create_physical", "create_bond", "create_bridge", "create_vlan"):
        assert (actions[op]["method"], actions[op]["op"]) == ("POST", op)
        assert ":param " in actions[op]["doc"]
    single = {a["name"]: a["method"] for a in resources["InterfaceHandler"]["auth"]["actions"]}
    assert single["update"] == "PUT" and single["delete"] == "DELETE"
