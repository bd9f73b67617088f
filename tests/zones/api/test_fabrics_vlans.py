"""Fabrics and VLANs: default VLAN, vid/MTU/DHCP rules, deletes refused while in use."""
import pytest

from tests.factories import FabricFactory, RackControllerFactory, SubnetFactory, VLANFactory
from zones.models import VLAN, Fabric

pytestmark = pytest.mark.django_db


def _post_vlan(client, **payload):
    return client.post("/api/v1/vlans/", payload, format="json")


def test_fabric_create_adds_untagged_vlan(admin_client):
    response = admin_client.post("/api/v1/fabrics/", {"name": "f1"}, format="json")
    assert response.status_code == 201
    vlan = VLAN.objects.get(fabric_id=response.data["id"])
    assert vlan.vid == 0
    assert response.data["vlans"] == [vlan.id]


def test_fabric_duplicate_name_creates_nothing(admin_client):
    FabricFactory(name="f1")
    response = admin_client.post("/api/v1/fabrics/", {"name": "f1"}, format="json")
    assert response.status_code == 400
    assert "name" in response.data
    assert Fabric.objects.count() == 1
    assert VLAN.objects.count() == 0


def test_fabric_with_subnets_cannot_be_deleted(admin_client):
    subnet = SubnetFactory()
    fabric = subnet.vlan.fabric
    response = admin_client.delete(f"/api/v1/fabrics/{fabric.pk}/")
    assert response.status_code == 409
    assert "subnet" in response.data["detail"]
    assert Fabric.objects.filter(pk=fabric.pk).exists()
    assert VLAN.objects.filter(pk=subnet.vlan_id).exists()


def test_fabric_delete_removes_its_vlans(admin_client):
    vlan = VLANFactory(vid=5)
    assert admin_client.delete(f"/api/v1/fabrics/{vlan.fabric_id}/").status_code == 204
    assert not VLAN.objects.filter(pk=vlan.pk).exists()


@pytest.mark.parametrize("payload,key", [
    ({"vid": 4095}, "vid"),
    ({"vid": -1}, "vid"),
    ({"vid": "x"}, "vid"),
    ({"vid": 10, "mtu": 551}, "mtu"),
    ({"vid": 10, "mtu": 65536}, "mtu"),
    ({"vid": 10, "dhcp_on": True}, "dhcp_on"),
    ({"vid": 10, "primary_rack": "nosuch"}, "primary_rack"),
    ({}, "vid"),
])
def test_vlan_field_errors_save_nothing(admin_client, payload, key):
    fabric = FabricFactory()
    response = _post_vlan(admin_client, fabric=fabric.id, **payload)
    assert response.status_code == 400
    assert key in response.data, response.data
    assert VLAN.objects.count() == 0


def test_vlan_vid_unique_per_fabric(admin_client):
    existing = VLANFactory(vid=10)
    response = _post_vlan(admin_client, fabric=existing.fabric_id, vid=10)
    assert response.status_code == 400
    assert "already exists" in response.data["vid"][0]
    assert VLAN.objects.count() == 1
    assert _post_vlan(admin_client, fabric=FabricFactory().id, vid=10).status_code == 201


def test_vlan_update_to_taken_vid_is_refused(admin_client):
    VLANFactory(vid=10)
    other = VLANFactory(vid=11, fabric=VLAN.objects.get().fabric)
    response = admin_client.patch(f"/api/v1/vlans/{other.pk}/", {"vid": 10}, format="json")
    assert response.status_code == 400
    assert "vid" in response.data
    assert VLAN.objects.get(pk=other.pk).vid == 11


def test_vlan_dhcp_with_racks_by_system_id(admin_client):
    primary, secondary = RackControllerFactory(), RackControllerFactory()
    response = _post_vlan(admin_client, fabric=FabricFactory().id, vid=30, dhcp_on=True,
                          primary_rack=primary.system_id, secondary_rack=secondary.system_id)
    assert response.status_code == 201, response.data
    assert response.data["primary_rack"] == primary.system_id
    assert response.data["secondary_rack"] == secondary.system_id
    assert VLAN.objects.get(pk=response.data["id"]).primary_rack == primary


def test_vlan_secondary_must_differ_from_primary(admin_client):
    rack = RackControllerFactory()
    response = _post_vlan(admin_client, fabric=FabricFactory().id, vid=30,
                          primary_rack=rack.system_id, secondary_rack=rack.system_id)
    assert response.status_code == 400
    assert "secondary_rack" in response.data
    assert VLAN.objects.count() == 0


def test_vlan_relay_excludes_local_dhcp(admin_client):
    relay = VLANFactory(vid=5)
    rack = RackControllerFactory()
    response = _post_vlan(admin_client, fabric=relay.fabric_id, vid=6, dhcp_on=True,
                          primary_rack=rack.system_id, relay_vlan=relay.id)
    assert response.status_code == 400
    assert "relay_vlan" in response.data
    assert VLAN.objects.count() == 1


def test_vlan_cannot_relay_to_itself(admin_client):
    vlan = VLANFactory(vid=5)
    response = admin_client.patch(f"/api/v1/vlans/{vlan.pk}/", {"relay_vlan": vlan.pk},
                                  format="json")
    assert response.status_code == 400
    assert "relay_vlan" in response.data
    assert VLAN.objects.get(pk=vlan.pk).relay_vlan_id is None


def test_turning_dhcp_off_needs_no_rack(admin_client):
    vlan = VLANFactory(vid=5, dhcp_on=True, primary_rack=RackControllerFactory())
    response = admin_client.patch(f"/api/v1/vlans/{vlan.pk}/",
                                  {"dhcp_on": False, "primary_rack": None}, format="json")
    assert response.status_code == 200
    assert VLAN.objects.get(pk=vlan.pk).primary_rack is None


def test_default_vlan_cannot_be_deleted(admin_client):
    vlan = VLANFactory(vid=0)
    response = admin_client.delete(f"/api/v1/vlans/{vlan.pk}/")
    assert response.status_code == 400
    assert "default VLAN" in response.data["vid"][0]
    assert VLAN.objects.filter(pk=vlan.pk).exists()


def test_vlan_with_subnets_cannot_be_deleted(admin_client):
    subnet = SubnetFactory(vlan=VLANFactory(vid=7))
    response = admin_client.delete(f"/api/v1/vlans/{subnet.vlan_id}/")
    assert response.status_code == 409
    assert "1 subnet" in response.data["detail"]
    assert VLAN.objects.filter(pk=subnet.vlan_id).exists()


def test_vlans_filter_by_fabric(user_client):
    vlan = VLANFactory(vid=3)
    VLANFactory(vid=3)
    response = user_client.get("/api/v1/vlans/", {"fabric": vlan.fabric_id})
    assert [row["id"] for row in response.data["results"]] == [vlan.id]
