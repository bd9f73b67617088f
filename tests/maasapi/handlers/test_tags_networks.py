"""tags/ (CRUD, update_nodes, machines) and fabrics, VLANs, subnets (reads and statistics)."""
import pytest

from nodes.models import Tag
from tests.factories import (
    IPRangeFactory,
    MachineFactory,
    StaticIPAddressFactory,
    SubnetFactory,
)
from tests.maasapi.conftest import API

pytestmark = pytest.mark.django_db


def test_tags_crud_and_tagging_machines(maas_admin, maas_user):
    created = maas_admin.post(API + "tags/", {"name": "gpu", "comment": "has GPUs"})
    assert created.json() == {"name": "gpu", "definition": "", "comment": "has GPUs",
                              "kernel_opts": "", "resource_uri": API + "tags/gpu/"}
    refused = maas_admin.post(API + "tags/", {"name": "x", "definition": "//node"})
    assert refused.status_code == 400 and "definition" in refused.json()
    machine, other = MachineFactory(), MachineFactory()
    changed = maas_admin.post(API + "tags/gpu/?op=update_nodes", {"add": [machine.system_id]})
    assert changed.json() == {"added": 1, "removed": 0}
    tagged = maas_user.get(API + "tags/gpu/", {"op": "machines"}).json()
    assert [m["system_id"] for m in tagged] == [machine.system_id]
    unknown = maas_admin.post(API + "tags/gpu/?op=update_nodes",
                              {"add": [other.system_id, "nope42"]})
    assert unknown.status_code == 400
    assert not Tag.objects.get(name="gpu").machines.filter(pk=other.pk).exists()
    assert maas_user.post(API + "tags/gpu/?op=update_nodes",
                          {"add": [other.system_id]}).status_code == 403
    assert maas_admin.delete(API + "tags/gpu/").status_code == 204


def test_fabrics_vlans_and_subnets_as_go_clients_need_them(maas_user):
    subnet = SubnetFactory(cidr="10.9.0.0/24", gateway_ip="10.9.0.1")
    IPRangeFactory(subnet=subnet)  # .100-.200 dynamic
    StaticIPAddressFactory(subnet=subnet, ip="10.9.0.5")
    fabrics = maas_user.get(API + "fabrics/").json()
    vlan = next(f for f in fabrics if f["id"] == subnet.vlan.fabric_id)["vlans"][0]
    assert (vlan["vid"], vlan["name"], vlan["mtu"]) == (0, "untagged", 1500)
    read = maas_user.get(API + f"fabrics/{subnet.vlan.fabric_id}/vlans/0/").json()
    assert read["resource_uri"] == vlan["resource_uri"]
    listed = maas_user.get(API + "subnets/").json()
    assert [s["cidr"] for s in listed] == ["10.9.0.0/24"]
    assert listed[0]["vlan"]["id"] == vlan["id"]
    stats = maas_user.get(API + f"subnets/{subnet.id}/", {"op": "statistics"}).json()
    # 254 hosts - gateway - 101 dynamic - 1 static
    assert (stats["total_addresses"], stats["num_available"]) == (254, 151)
    ranges = maas_user.get(API + f"subnets/{subnet.id}/", {"op": "unreserved_ip_ranges"}).json()
    assert ranges[0] == {"start": "10.9.0.2", "end": "10.9.0.4", "num_addresses": 3}
    addresses = maas_user.get(API + f"subnets/{subnet.id}/", {"op": "ip_addresses"}).json()
    assert [a["ip"] for a in addresses] == ["10.9.0.5"]
    assert maas_user.get(API + "subnets/999999/").status_code == 404
