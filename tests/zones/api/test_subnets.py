"""Subnets: CIDR normalised, gateway and DNS checked, contents kept consistent, deletes."""
import pytest

from tests.factories import IPRangeFactory, StaticIPAddressFactory, SubnetFactory, VLANFactory
from zones.models import IPRange, Subnet

pytestmark = pytest.mark.django_db


def _post(client, **payload):
    payload.setdefault("vlan", VLANFactory().id)
    return client.post("/api/v1/subnets/", payload, format="json")


def test_cidr_is_normalised_to_the_network(admin_client):
    response = _post(admin_client, cidr="10.9.0.5/24")
    assert response.status_code == 201
    assert response.data["cidr"] == "10.9.0.0/24"
    assert Subnet.objects.get().cidr == "10.9.0.0/24"


def test_ipv6_subnet(admin_client):
    response = _post(admin_client, cidr="2001:db8::1/64", gateway_ip="2001:db8::1")
    assert response.status_code == 201, response.data
    assert response.data["cidr"] == "2001:db8::/64"


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "nonsense", "10.0.0.1", "", "10/8"])
def test_bad_cidr_is_a_field_error(admin_client, cidr):
    vlan = VLANFactory()
    response = _post(admin_client, vlan=vlan.id, cidr=cidr)
    assert response.status_code == 400
    assert "cidr" in response.data
    assert Subnet.objects.count() == 0


def test_cidr_duplicate_after_normalising(admin_client):
    SubnetFactory(cidr="10.9.0.0/24")
    response = _post(admin_client, cidr="10.9.0.77/24")
    assert response.status_code == 400
    assert "cidr" in response.data
    assert Subnet.objects.count() == 1


@pytest.mark.parametrize("gateway", ["10.9.1.1", "fe80::1", "not-an-ip"])
def test_gateway_outside_or_invalid(admin_client, gateway):
    vlan = VLANFactory()
    response = _post(admin_client, vlan=vlan.id, cidr="10.9.0.0/24", gateway_ip=gateway)
    assert response.status_code == 400
    assert "gateway_ip" in response.data
    assert Subnet.objects.count() == 0


def test_bios_boot_loader_defaults_to_pxelinux_and_takes_ipxe(admin_client):
    response = _post(admin_client, cidr="10.9.0.0/24")
    assert response.data["bios_boot_loader"] == "pxelinux"
    url = f"/api/v1/subnets/{response.data['id']}/"
    response = admin_client.patch(url, {"bios_boot_loader": "ipxe"}, format="json")
    assert response.status_code == 200, response.data
    assert Subnet.objects.get().bios_boot_loader == "ipxe"


def test_an_unknown_bios_boot_loader_is_a_field_error(admin_client):
    response = _post(admin_client, cidr="10.9.0.0/24", bios_boot_loader="grub")
    assert response.status_code == 400
    assert "bios_boot_loader" in response.data
    assert Subnet.objects.count() == 0


def test_dns_servers_must_be_ips(admin_client):
    vlan = VLANFactory()
    response = _post(admin_client, vlan=vlan.id, cidr="10.9.0.0/24",
                     dns_servers=["8.8.8.8", "dns.example.com"])
    assert response.status_code == 400
    assert "dns_servers" in response.data
    assert Subnet.objects.count() == 0


def test_dns_servers_stored_as_list(admin_client):
    response = _post(admin_client, cidr="10.9.0.0/24", gateway_ip="10.9.0.1",
                     dns_servers=["8.8.8.8", "2001:4860:4860::8888"])
    assert response.status_code == 201
    assert Subnet.objects.get().dns_servers == ["8.8.8.8", "2001:4860:4860::8888"]


def test_missing_vlan_is_a_field_error(admin_client):
    response = admin_client.post("/api/v1/subnets/", {"cidr": "10.9.0.0/24"}, format="json")
    assert response.status_code == 400
    assert "vlan" in response.data


def test_shrinking_cidr_must_keep_ranges_inside(admin_client):
    iprange = IPRangeFactory(subnet=SubnetFactory(cidr="10.9.0.0/24"))
    response = admin_client.patch(f"/api/v1/subnets/{iprange.subnet_id}/",
                                  {"cidr": "10.9.0.0/25"}, format="json")
    assert response.status_code == 400
    assert "cidr" in response.data
    assert Subnet.objects.get().cidr == "10.9.0.0/24"


def test_shrinking_cidr_must_keep_static_ips_inside(admin_client):
    static = StaticIPAddressFactory(subnet=SubnetFactory(cidr="10.9.0.0/24"), ip="10.9.0.250")
    response = admin_client.patch(f"/api/v1/subnets/{static.subnet_id}/",
                                  {"cidr": "10.9.0.0/25"}, format="json")
    assert response.status_code == 400
    assert "cidr" in response.data


def test_gateway_cannot_move_into_dynamic_range(admin_client):
    iprange = IPRangeFactory(subnet=SubnetFactory(cidr="10.9.0.0/24"))
    response = admin_client.patch(f"/api/v1/subnets/{iprange.subnet_id}/",
                                  {"gateway_ip": "10.9.0.150"}, format="json")
    assert response.status_code == 400
    assert "gateway_ip" in response.data
    assert Subnet.objects.get().gateway_ip is None


def test_gateway_can_be_cleared(admin_client):
    subnet = SubnetFactory(cidr="10.9.0.0/24", gateway_ip="10.9.0.1")
    response = admin_client.patch(f"/api/v1/subnets/{subnet.pk}/", {"gateway_ip": None},
                                  format="json")
    assert response.status_code == 200
    assert Subnet.objects.get().gateway_ip is None


def test_subnet_with_static_ips_cannot_be_deleted(admin_client):
    static = StaticIPAddressFactory()
    response = admin_client.delete(f"/api/v1/subnets/{static.subnet_id}/")
    assert response.status_code == 409
    assert "1 static IP" in response.data["detail"]
    assert Subnet.objects.filter(pk=static.subnet_id).exists()


def test_subnet_delete_removes_its_ranges(admin_client):
    iprange = IPRangeFactory()
    assert admin_client.delete(f"/api/v1/subnets/{iprange.subnet_id}/").status_code == 204
    assert not IPRange.objects.exists()


def test_subnet_filters(user_client):
    subnet = SubnetFactory(name="pxe")
    other = SubnetFactory()
    get = lambda **q: [r["id"] for r in user_client.get("/api/v1/subnets/", q).data["results"]]  # noqa: E731
    assert get(vlan=subnet.vlan_id) == [subnet.id]
    assert get(fabric=other.vlan.fabric_id) == [other.id]
    assert get(name="pxe") == [subnet.id]
    assert get(cidr=other.cidr) == [other.id]
