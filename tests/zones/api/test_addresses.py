"""IP ranges and static IPs: inside the subnet, no overlaps, dynamic ranges kept free."""
import pytest

from tests.factories import (
    IPRangeFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    UserFactory,
)
from zones.models import IPRange, StaticIPAddress

pytestmark = pytest.mark.django_db


@pytest.fixture
def subnet():
    return SubnetFactory(cidr="10.5.0.0/24", gateway_ip="10.5.0.1")


def _range(client, subnet, start, end, type="reserved"):
    return client.post("/api/v1/ipranges/", {"subnet": subnet.id, "type": type,
                                             "start_ip": start, "end_ip": end}, format="json")


@pytest.mark.parametrize("start,end,type,key", [
    ("10.5.0.50", "10.5.0.40", "reserved", "end_ip"),
    ("10.4.0.50", "10.5.0.60", "reserved", "start_ip"),
    ("10.5.0.50", "10.6.0.60", "reserved", "end_ip"),
    ("10.5.0.50", "not-an-ip", "reserved", "end_ip"),
    ("10.5.0.50", "10.5.0.60", "floating", "type"),
    ("10.5.0.1", "10.5.0.20", "dynamic", "start_ip"),  # contains the gateway
    ("fe80::1", "fe80::2", "reserved", "start_ip"),
])
def test_range_field_errors_save_nothing(admin_client, subnet, start, end, type, key):
    response = _range(admin_client, subnet, start, end, type)
    assert response.status_code == 400
    assert key in response.data, response.data
    assert IPRange.objects.count() == 0


def test_reserved_range_may_contain_gateway(admin_client, subnet):
    assert _range(admin_client, subnet, "10.5.0.1", "10.5.0.9").status_code == 201


def test_single_address_range(admin_client, subnet):
    assert _range(admin_client, subnet, "10.5.0.9", "10.5.0.9").status_code == 201


@pytest.mark.parametrize("start,end", [
    ("10.5.0.150", "10.5.0.250"), ("10.5.0.50", "10.5.0.100"), ("10.5.0.120", "10.5.0.130"),
    ("10.5.0.50", "10.5.0.250"),
])
def test_overlapping_ranges_are_refused(admin_client, subnet, start, end):
    IPRangeFactory(subnet=subnet)  # .100-.200 dynamic
    for type in ("reserved", "dynamic"):
        response = _range(admin_client, subnet, start, end, type)
        assert response.status_code == 400
        assert "overlaps" in response.data["start_ip"][0]
    assert IPRange.objects.count() == 1


def test_adjacent_ranges_are_fine(admin_client, subnet):
    IPRangeFactory(subnet=subnet)
    assert _range(admin_client, subnet, "10.5.0.201", "10.5.0.210").status_code == 201
    assert _range(admin_client, subnet, "10.5.0.90", "10.5.0.99").status_code == 201


def test_dynamic_range_cannot_cover_static_ip(admin_client, subnet):
    StaticIPAddressFactory(subnet=subnet, ip="10.5.0.30")
    response = _range(admin_client, subnet, "10.5.0.20", "10.5.0.40", "dynamic")
    assert response.status_code == 400
    assert "10.5.0.30" in response.data["start_ip"][0]
    assert IPRange.objects.count() == 0


def test_range_update_into_overlap_is_refused(admin_client, subnet):
    IPRangeFactory(subnet=subnet)
    other = IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.5.0.10",
                           end_ip="10.5.0.20")
    response = admin_client.patch(f"/api/v1/ipranges/{other.pk}/", {"end_ip": "10.5.0.150"},
                                  format="json")
    assert response.status_code == 400
    assert "start_ip" in response.data
    assert IPRange.objects.get(pk=other.pk).end_ip == "10.5.0.20"


def test_range_update_keeps_its_own_addresses(admin_client, subnet):
    iprange = IPRangeFactory(subnet=subnet)
    response = admin_client.patch(f"/api/v1/ipranges/{iprange.pk}/",
                                  {"end_ip": "10.5.0.210"}, format="json")
    assert response.status_code == 200


def test_ipranges_filter_by_subnet(user_client, subnet):
    mine = IPRangeFactory(subnet=subnet)
    IPRangeFactory()
    response = user_client.get("/api/v1/ipranges/", {"subnet": subnet.id})
    assert [r["id"] for r in response.data["results"]] == [mine.id]


def _static(client, **payload):
    return client.post("/api/v1/static-ips/", payload, format="json")


def test_static_ip_outside_subnet(admin_client, subnet):
    response = _static(admin_client, ip="10.6.0.5", subnet=subnet.id)
    assert response.status_code == 400
    assert "not in subnet" in response.data["ip"][0]
    assert StaticIPAddress.objects.count() == 0


def test_static_ip_inside_dynamic_range(admin_client, subnet):
    IPRangeFactory(subnet=subnet)
    response = _static(admin_client, ip="10.5.0.150", subnet=subnet.id)
    assert response.status_code == 400
    assert "dynamic range" in response.data["ip"][0]
    assert StaticIPAddress.objects.count() == 0


def test_static_ip_inside_reserved_range_is_fine(admin_client, subnet):
    IPRangeFactory(subnet=subnet, type="reserved")
    assert _static(admin_client, ip="10.5.0.150", subnet=subnet.id).status_code == 201


def test_static_ip_subnet_is_inferred(admin_client, subnet):
    SubnetFactory(cidr="10.0.0.0/8")  # less specific; the /24 wins
    response = _static(admin_client, ip="10.5.0.7")
    assert response.status_code == 201
    assert response.data["subnet"] == subnet.id


def test_static_ip_without_any_subnet(admin_client):
    response = _static(admin_client, ip="192.0.2.7")
    assert response.status_code == 400
    assert "subnet" in response.data
    assert StaticIPAddress.objects.count() == 0


@pytest.mark.parametrize("ip", ["10.5.0.300", "nope", ""])
def test_static_ip_invalid(admin_client, subnet, ip):
    response = _static(admin_client, ip=ip, subnet=subnet.id)
    assert response.status_code == 400
    assert "ip" in response.data


def test_static_ip_duplicate(admin_client, subnet):
    StaticIPAddressFactory(subnet=subnet, ip="10.5.0.7")
    response = _static(admin_client, ip="10.5.0.7", subnet=subnet.id)
    assert response.status_code == 400
    assert "ip" in response.data
    assert StaticIPAddress.objects.count() == 1


def test_static_ip_update_into_dynamic_range(admin_client, subnet):
    IPRangeFactory(subnet=subnet)
    static = StaticIPAddressFactory(subnet=subnet, ip="10.5.0.7")
    response = admin_client.patch(f"/api/v1/static-ips/{static.pk}/", {"ip": "10.5.0.150"},
                                  format="json")
    assert response.status_code == 400
    assert "ip" in response.data
    assert StaticIPAddress.objects.get(pk=static.pk).ip == "10.5.0.7"


def test_static_ip_reserved_for_a_user(admin_client, subnet):
    owner = UserFactory(username="alice")
    response = _static(admin_client, ip="10.5.0.7", subnet=subnet.id, user="alice",
                       alloc_type="user_reserved")
    assert response.status_code == 201
    assert response.data["user"] == "alice"
    assert StaticIPAddress.objects.get().user == owner


def test_users_see_only_their_static_ips(user_client, subnet):
    mine = StaticIPAddressFactory(subnet=subnet, user=user_client.user)
    other = StaticIPAddressFactory(subnet=subnet)
    response = user_client.get("/api/v1/static-ips/")
    assert [r["id"] for r in response.data["results"]] == [mine.id]
    assert user_client.get(f"/api/v1/static-ips/{other.pk}/").status_code == 404


def test_static_ips_filter_by_ip_and_refuse_what_is_no_address(admin_client, subnet):
    StaticIPAddressFactory(subnet=subnet, ip="10.5.0.20")
    StaticIPAddressFactory(subnet=subnet, ip="10.5.0.21")
    results = admin_client.get("/api/v1/static-ips/", {"ip": "10.5.0.20"}).json()["results"]
    assert [r["ip"] for r in results] == ["10.5.0.20"]
    for bad in ("abc", "10.5.0.256", "10.5.0.0/24"):
        response = admin_client.get("/api/v1/static-ips/", {"ip": bad})
        assert response.status_code == 400 and "ip" in response.json(), bad
