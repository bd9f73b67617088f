"""fabrics/, their VLANs, subnets/ and ipranges/: writes through the zones services, MAAS's
shapes and codes (200 on create, 204 on delete, 400 JSON by field, 403, 404, 409)."""
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.factories import (
    FabricFactory,
    IPRangeFactory,
    RackControllerFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    VLANFactory,
)
from tests.maasapi.conftest import API
from tests.maasapi.handlers.test_zones import multipart_base64
from zones.models import VLAN, Fabric, IPRange, Subnet

pytestmark = pytest.mark.django_db


def put(client, path: str, fields: dict):
    """A PUT as gomaasapi sends it: urlencoded."""
    return client.put(path, urlencode(fields, doseq=True),
                      content_type="application/x-www-form-urlencoded")


def assert_field_errors(response, *fields: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert set(fields) <= set(response.json()), response.json()


# Fabrics


def test_fabric_create_read_update_delete(maas_admin):
    created = maas_admin.post(API + "fabrics/", {"name": "fab-a", "description": "row A",
                                                 "class_type": "10g"})
    assert created.status_code == 200, created.content
    fabric = created.json()
    untagged = fabric["vlans"][0]
    assert fabric == {"id": fabric["id"], "name": "fab-a", "description": "row A",
                      "class_type": None, "vlans": [untagged],
                      "resource_uri": API + f"fabrics/{fabric['id']}/"}
    assert (untagged["vid"], untagged["name"], untagged["fabric"]) == (0, "untagged", "fab-a")
    assert maas_admin.get(API + "fabrics/fab-a/").json() == fabric
    body, content_type = multipart_base64({"name": "fab-b", "description": "row B"})
    updated = maas_admin.put(API + f"fabrics/{fabric['id']}/", body, content_type=content_type)
    assert (updated.json()["name"], updated.json()["description"]) == ("fab-b", "row B")
    assert Fabric.objects.get(pk=fabric["id"]).name == "fab-b"
    deleted = maas_admin.delete(API + "fabrics/fab-b/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not Fabric.objects.filter(pk=fabric["id"]).exists()
    assert not VLAN.objects.filter(fabric_id=fabric["id"]).exists()
    missing = maas_admin.get(API + f"fabrics/{fabric['id']}/")
    assert (missing.status_code, missing.content) == (404, b"No Fabric matches the given query.")


def test_fabric_bad_input_is_400_and_nothing_is_saved(maas_admin):
    FabricFactory(name="taken")
    assert_field_errors(maas_admin.post(API + "fabrics/", {"name": "bad\nname"}), "name")
    assert_field_errors(maas_admin.post(API + "fabrics/", {"description": "no name"}), "name")
    assert_field_errors(maas_admin.post(API + "fabrics/", {"name": "taken"}), "name")
    assert list(Fabric.objects.values_list("name", flat=True)) == ["taken"]
    other = FabricFactory(name="other")
    assert_field_errors(put(maas_admin, API + f"fabrics/{other.id}/", {"name": "taken"}), "name")
    assert Fabric.objects.get(pk=other.pk).name == "other"


def test_fabric_writes_are_for_admins(maas_user):
    fabric = FabricFactory(name="fab-u")
    assert maas_user.get(API + "fabrics/").status_code == 200
    assert maas_user.post(API + "fabrics/", {"name": "mine"}).status_code == 403
    assert put(maas_user, API + "fabrics/fab-u/", {"name": "mine"}).status_code == 403
    assert maas_user.delete(API + "fabrics/fab-u/").status_code == 403
    assert list(Fabric.objects.values_list("name", flat=True)) == [fabric.name]
    assert Client().post(API + "fabrics/", {"name": "anon"}).status_code == 401


def test_fabric_unknown_is_404_and_in_use_is_409(maas_admin):
    assert maas_admin.put(API + "fabrics/999999/").status_code == 404
    assert maas_admin.delete(API + "fabrics/nope/").status_code == 404
    subnet = SubnetFactory()
    refused = maas_admin.delete(API + f"fabrics/{subnet.vlan.fabric_id}/")
    assert refused.status_code == 409 and b"subnet" in refused.content
    assert Fabric.objects.filter(pk=subnet.vlan.fabric_id).exists()


# VLANs


def test_vlan_create_read_update_delete(maas_admin):
    fabric = FabricFactory(name="fab-v")
    VLANFactory(fabric=fabric, vid=0)
    rack, relay = RackControllerFactory(), VLANFactory(fabric=fabric, vid=99)
    vlans = API + f"fabrics/{fabric.id}/vlans/"
    created = maas_admin.post(vlans, {"vid": "10", "name": "storage", "mtu": "9000",
                                      "description": "ignored", "space": "ignored"})
    assert created.status_code == 200, created.content
    vlan = created.json()
    assert vlan == {"id": vlan["id"], "vid": 10, "name": "storage", "mtu": 9000,
                    "fabric": "fab-v", "fabric_id": fabric.id, "dhcp_on": False,
                    "external_dhcp": None, "primary_rack": None, "secondary_rack": None,
                    "relay_vlan": None, "space": "undefined", "resource_uri": vlans + "10/"}
    assert maas_admin.get(vlans + "10/").json() == vlan
    assert [v["vid"] for v in maas_admin.get(vlans).json()] == [0, 10, 99]
    updated = put(maas_admin, vlans + "10/", {"dhcp_on": "true", "primary_rack": rack.system_id,
                                              "mtu": "1500"}).json()
    assert (updated["dhcp_on"], updated["primary_rack"], updated["mtu"]) == (
        True, rack.system_id, 1500)
    cleared = put(maas_admin, vlans + "10/", {"dhcp_on": "false", "primary_rack": ""}).json()
    assert (cleared["dhcp_on"], cleared["primary_rack"], cleared["name"]) == (
        False, None, "storage")
    relaying = put(maas_admin, vlans + "10/", {"relay_vlan": str(relay.id)}).json()
    assert relaying["relay_vlan"] == relay.id
    assert VLAN.objects.get(pk=vlan["id"]).relay_vlan_id == relay.id
    deleted = maas_admin.delete(vlans + "10/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not VLAN.objects.filter(pk=vlan["id"]).exists()
    assert maas_admin.get(vlans + "10/").status_code == 404


def test_vlan_bad_input_is_400_and_nothing_is_saved(maas_admin):
    fabric = FabricFactory()
    VLANFactory(fabric=fabric, vid=0)
    vlans = API + f"fabrics/{fabric.id}/vlans/"
    assert_field_errors(maas_admin.post(vlans, {"name": "no-vid"}), "vid")
    assert_field_errors(maas_admin.post(vlans, {"vid": "5000"}), "vid")
    assert_field_errors(maas_admin.post(vlans, {"vid": "0"}), "vid")  # exists
    assert_field_errors(maas_admin.post(vlans, {"vid": "7", "mtu": "big"}), "mtu")
    assert_field_errors(maas_admin.post(vlans, {"vid": "7", "mtu": "100"}), "mtu")
    assert_field_errors(maas_admin.post(vlans, {"vid": "7", "dhcp_on": "true"}), "dhcp_on")
    assert_field_errors(maas_admin.post(vlans, {"vid": "7", "primary_rack": "nope"}),
                        "primary_rack")
    assert list(fabric.vlans.values_list("vid", flat=True)) == [0]
    # The untagged VLAN goes with its fabric only.
    assert_field_errors(maas_admin.delete(vlans + "0/"), "vid")
    assert fabric.vlans.filter(vid=0).exists()


def test_vlan_writes_are_for_admins_and_unknown_ones_404(maas_admin, maas_user):
    vlan = VLANFactory(vid=5, name="five")
    vlans = API + f"fabrics/{vlan.fabric_id}/vlans/"
    assert maas_user.get(vlans + "5/").status_code == 200
    assert maas_user.post(vlans, {"vid": "6"}).status_code == 403
    assert put(maas_user, vlans + "5/", {"name": "mine"}).status_code == 403
    assert maas_user.delete(vlans + "5/").status_code == 403
    assert list(VLAN.objects.values_list("vid", "name")) == [(5, "five")]
    assert maas_admin.post(API + "fabrics/999999/vlans/", {"vid": "6"}).status_code == 404
    assert put(maas_admin, vlans + "6/", {"name": "x"}).status_code == 404
    assert maas_admin.delete(vlans + "abc/").status_code == 404
    SubnetFactory(vlan=vlan)
    assert maas_admin.delete(vlans + "5/").status_code == 409
    assert VLAN.objects.filter(pk=vlan.pk).exists()


# Subnets


def test_subnet_create_read_update_delete(maas_admin):
    vlan = VLANFactory(vid=0)
    created = maas_admin.post(API + "subnets/", {
        "cidr": "10.20.0.0/24", "name": "lab", "vlan": str(vlan.id),
        "gateway_ip": "10.20.0.1", "dns_servers": "10.20.0.2, 8.8.8.8 1.1.1.1",
        "managed": "false", "description": "ignored", "allow_dns": "true", "rdns_mode": "2"})
    assert created.status_code == 200, created.content
    subnet = created.json()
    assert (subnet["cidr"], subnet["name"], subnet["vlan"]["id"]) == ("10.20.0.0/24", "lab",
                                                                      vlan.id)
    assert subnet["gateway_ip"] == "10.20.0.1" and subnet["managed"] is False
    assert subnet["dns_servers"] == ["10.20.0.2", "8.8.8.8", "1.1.1.1"]
    assert subnet["resource_uri"] == API + f"subnets/{subnet['id']}/"
    assert maas_admin.get(API + f"subnets/{subnet['id']}/").json() == subnet
    updated = put(maas_admin, API + f"subnets/{subnet['id']}/",
                  {"name": "lab2", "gateway_ip": "", "dns_servers": ""}).json()
    assert (updated["name"], updated["gateway_ip"], updated["dns_servers"]) == ("lab2", None, [])
    assert updated["cidr"] == "10.20.0.0/24" and updated["managed"] is False
    deleted = maas_admin.delete(API + f"subnets/{subnet['id']}/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not Subnet.objects.filter(pk=subnet["id"]).exists()
    assert maas_admin.get(API + f"subnets/{subnet['id']}/").status_code == 404


def test_subnet_vlan_from_fabric_and_vid_or_the_first_fabric(maas_admin):
    first = FabricFactory(name="first")
    VLANFactory(fabric=first, vid=0)
    other = FabricFactory(name="other")
    tagged = VLANFactory(fabric=other, vid=30)
    by_vid = maas_admin.post(API + "subnets/", {"cidr": "10.30.0.0/24", "fabric": "other",
                                                "vid": "30"}).json()
    assert by_vid["vlan"]["id"] == tagged.id
    default = maas_admin.post(API + "subnets/", {"cidr": "10.31.0.5/24"}).json()
    assert (default["cidr"], default["vlan"]["fabric"], default["vlan"]["vid"]) == (
        "10.31.0.0/24", "first", 0)
    moved = put(maas_admin, API + f"subnets/{default['id']}/", {"vlan": str(tagged.id)}).json()
    assert moved["vlan"]["id"] == tagged.id
    assert Subnet.objects.get(pk=default["id"]).vlan_id == tagged.id


def test_subnet_bad_input_is_400_and_nothing_is_saved(maas_admin):
    vlan = VLANFactory(vid=0)
    cases = [({"vlan": str(vlan.id)}, "cidr"),
             ({"cidr": "10.40.0.0", "vlan": str(vlan.id)}, "cidr"),
             ({"cidr": "10.40.0.0/24", "vlan": "999999"}, "vlan"),
             ({"cidr": "10.40.0.0/24", "fabric": vlan.fabric.name, "vid": "12"}, "vid"),
             ({"cidr": "10.40.0.0/24", "gateway_ip": "10.41.0.1"}, "gateway_ip"),
             ({"cidr": "10.40.0.0/24", "gateway_ip": "nonsense"}, "gateway_ip"),
             ({"cidr": "10.40.0.0/24", "dns_servers": "8.8.8.8,bad"}, "dns_servers"),
             ({"cidr": "10.40.0.0/24", "managed": "maybe"}, "managed")]
    for fields, field in cases:
        assert_field_errors(maas_admin.post(API + "subnets/", fields), field)
    assert not Subnet.objects.exists()
    subnet = SubnetFactory(vlan=vlan, cidr="10.50.0.0/24")
    IPRangeFactory(subnet=subnet)  # .100-.200
    assert_field_errors(put(maas_admin, API + f"subnets/{subnet.id}/",
                            {"cidr": "10.50.0.0/26"}), "cidr")
    assert Subnet.objects.get(pk=subnet.pk).cidr == "10.50.0.0/24"


def test_subnet_writes_are_for_admins_unknown_404_in_use_409(maas_admin, maas_user):
    subnet = SubnetFactory(cidr="10.60.0.0/24", name="keep")
    assert maas_user.get(API + "subnets/").status_code == 200
    assert maas_user.post(API + "subnets/", {"cidr": "10.61.0.0/24",
                                             "vlan": str(subnet.vlan_id)}).status_code == 403
    assert put(maas_user, API + f"subnets/{subnet.id}/", {"name": "x"}).status_code == 403
    assert maas_user.delete(API + f"subnets/{subnet.id}/").status_code == 403
    assert list(Subnet.objects.values_list("cidr", "name")) == [("10.60.0.0/24", "keep")]
    assert put(maas_admin, API + "subnets/999999/", {"name": "x"}).status_code == 404
    assert maas_admin.delete(API + "subnets/999999/").status_code == 404
    StaticIPAddressFactory(subnet=subnet, ip="10.60.0.9")
    assert maas_admin.delete(API + f"subnets/{subnet.id}/").status_code == 409
    assert Subnet.objects.filter(pk=subnet.pk).exists()


# IP ranges


def test_iprange_create_read_update_delete(maas_admin, maas_user):
    subnet = SubnetFactory(cidr="10.70.0.0/24", gateway_ip="10.70.0.1")
    created = maas_admin.post(API + "ipranges/", {"type": "dynamic", "start_ip": "10.70.0.100",
                                                  "end_ip": "10.70.0.150",
                                                  "subnet": str(subnet.id), "comment": "pool"})
    assert created.status_code == 200, created.content
    iprange = created.json()
    subnet_shape = maas_user.get(API + f"subnets/{subnet.id}/").json()
    assert iprange == {"id": iprange["id"], "type": "dynamic", "start_ip": "10.70.0.100",
                       "end_ip": "10.70.0.150", "comment": "pool", "user": None,
                       "subnet": subnet_shape,
                       "resource_uri": API + f"ipranges/{iprange['id']}/"}
    assert maas_user.get(API + "ipranges/").json() == [iprange]
    assert maas_user.get(API + f"ipranges/{iprange['id']}/").json() == iprange
    updated = put(maas_admin, API + f"ipranges/{iprange['id']}/",
                  {"end_ip": "10.70.0.160", "comment": "bigger"}).json()
    assert (updated["start_ip"], updated["end_ip"], updated["comment"]) == (
        "10.70.0.100", "10.70.0.160", "bigger")
    assert IPRange.objects.get(pk=iprange["id"]).end_ip == "10.70.0.160"
    deleted = maas_admin.delete(API + f"ipranges/{iprange['id']}/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert not IPRange.objects.exists()
    missing = maas_admin.get(API + f"ipranges/{iprange['id']}/")
    assert (missing.status_code, missing.content) == (404, b"No IPRange matches the given query.")


def test_iprange_subnet_by_cidr_or_from_start_ip(maas_admin):
    SubnetFactory(cidr="10.80.0.0/16")
    inner = SubnetFactory(cidr="10.80.1.0/24")
    by_cidr = maas_admin.post(API + "ipranges/", {"type": "reserved", "subnet": "10.80.1.0/24",
                                                  "start_ip": "10.80.1.10",
                                                  "end_ip": "10.80.1.19"}).json()
    assert by_cidr["subnet"]["id"] == inner.id
    inferred = maas_admin.post(API + "ipranges/", {"type": "reserved",
                                                   "start_ip": "10.80.1.20",
                                                   "end_ip": "10.80.1.29"}).json()
    assert inferred["subnet"]["id"] == inner.id  # the most specific subnet


def test_iprange_bad_input_and_overlaps_are_400_and_nothing_is_saved(maas_admin):
    subnet = SubnetFactory(cidr="10.90.0.0/24")
    existing = IPRangeFactory(subnet=subnet)  # dynamic .100-.200
    base = {"type": "reserved", "subnet": str(subnet.id)}
    cases = [({"start_ip": "10.90.0.150", "end_ip": "10.90.0.210"}, "start_ip"),  # overlap
             ({"start_ip": "10.90.0.50", "end_ip": "10.90.0.40"}, "end_ip"),
             ({"start_ip": "10.90.0.50", "end_ip": "10.91.0.60"}, "end_ip"),
             ({"start_ip": "nonsense", "end_ip": "10.90.0.60"}, "start_ip"),
             ({"start_ip": "10.90.0.50", "end_ip": "10.90.0.60", "type": "odd"}, "type"),
             ({"start_ip": "10.90.0.50", "end_ip": "10.90.0.60", "subnet": "99999"}, "subnet")]
    for fields, field in cases:
        assert_field_errors(maas_admin.post(API + "ipranges/", {**base, **fields}), field)
    assert_field_errors(maas_admin.post(API + "ipranges/", {
        "type": "reserved", "start_ip": "192.0.2.1", "end_ip": "192.0.2.9"}), "subnet")
    assert list(IPRange.objects.values_list("pk", flat=True)) == [existing.pk]
    other = IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.90.0.10",
                           end_ip="10.90.0.20")
    assert_field_errors(put(maas_admin, API + f"ipranges/{other.id}/",
                            {"end_ip": "10.90.0.120"}), "start_ip")
    assert IPRange.objects.get(pk=other.pk).end_ip == "10.90.0.20"


def test_iprange_writes_are_for_admins_and_unknown_ones_404(maas_admin, maas_user):
    iprange = IPRangeFactory(comment="keep")
    subnet = iprange.subnet
    assert maas_user.get(API + "ipranges/").status_code == 200
    assert maas_user.post(API + "ipranges/", {
        "type": "reserved", "subnet": str(subnet.id), "start_ip": str(subnet.network[10]),
        "end_ip": str(subnet.network[20])}).status_code == 403
    assert put(maas_user, API + f"ipranges/{iprange.id}/", {"comment": "x"}).status_code == 403
    assert maas_user.delete(API + f"ipranges/{iprange.id}/").status_code == 403
    assert list(IPRange.objects.values_list("comment", flat=True)) == ["keep"]
    assert maas_admin.get(API + "ipranges/999999/").status_code == 404
    assert put(maas_admin, API + "ipranges/abc/", {"comment": "x"}).status_code == 404
    assert maas_admin.delete(API + "ipranges/999999/").status_code == 404


def test_describe_lists_the_network_writes_with_their_params():
    body = Client().get(API + "describe/").json()
    by_name = {resource["name"]: resource["auth"] for resource in body["resources"]}
    assert by_name["IPRangeHandler"]["params"] == ["id"]
    assert by_name["IPRangeHandler"]["path"] == API + "ipranges/{id}/"
    assert by_name["VlanHandler"]["params"] == ["fabric_id", "vid"]
    expected = {"FabricsHandler": {"read", "create"}, "FabricHandler": {"read", "update",
                                                                        "delete"},
                "VlansHandler": {"read", "create"}, "VlanHandler": {"read", "update", "delete"},
                "SubnetsHandler": {"read", "create"}, "IPRangesHandler": {"read", "create"},
                "IPRangeHandler": {"read", "update", "delete"}}
    for name, crud in expected.items():
        actions = {action["name"]: action for action in by_name[name]["actions"]}
        assert crud <= set(actions), name
        for write in crud - {"read", "delete"}:
            title, _, rest = actions[write]["doc"].partition("\n\n")
            assert title and ":param " in rest, (name, write)
