"""Django admin for zones models: every model listed, writes validated and through services."""
import pytest
from django.test import Client

from nodes.models import Event
from tests.factories import (
    IPRangeFactory,
    RackControllerFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from zones.models import IPRange, RackController, StaticIPAddress, Subnet, Zone

pytestmark = pytest.mark.django_db

MODELS = ["zone", "resourcepool", "fabric", "vlan", "subnet", "iprange", "staticipaddress",
          "rackcontroller"]


@pytest.fixture
def site(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_search(site, model):
    IPRangeFactory()
    StaticIPAddressFactory()
    RackControllerFactory()
    assert site.get(f"/admin/zones/{model}/").status_code == 200
    assert site.get(f"/admin/zones/{model}/", {"q": "x"}).status_code == 200


def test_no_bulk_delete_action(site):
    response = site.get("/admin/zones/subnet/")
    assert b"delete_selected" not in response.content


def test_add_zone_goes_through_service(site, admin):
    response = site.post("/admin/zones/zone/add/", {"name": "lab", "description": ""})
    assert response.status_code == 302
    assert Zone.objects.filter(name="lab").exists()
    assert Event.objects.filter(type="zone_created", user=admin).exists()


def test_default_zone_cannot_be_deleted_or_renamed(site):
    default = Zone.objects.get(name="default")
    assert site.get(f"/admin/zones/zone/{default.pk}/delete/").status_code == 403
    site.post(f"/admin/zones/zone/{default.pk}/change/", {"name": "x", "description": "d"})
    assert Zone.objects.get(pk=default.pk).name == "default"


def test_subnet_rules_show_as_form_errors(site):
    vlan = VLANFactory()
    response = site.post("/admin/zones/subnet/add/", {
        "name": "", "vlan": vlan.pk, "cidr": "10.3.0.0/24", "gateway_ip": "10.4.0.1",
        "dns_servers": "[]", "managed": "on", "allow_enlistment": "on",
        "bios_boot_loader": "pxelinux"})
    assert response.status_code == 200
    assert "gateway_ip" in response.context["adminform"].form.errors
    assert not Subnet.objects.exists()


def test_subnet_add_normalises_cidr(site):
    vlan = VLANFactory()
    response = site.post("/admin/zones/subnet/add/", {
        "name": "", "vlan": vlan.pk, "cidr": "10.3.0.9/24", "gateway_ip": "",
        "dns_servers": "[]", "managed": "on", "allow_enlistment": "on",
        "bios_boot_loader": "pxelinux"})
    assert response.status_code == 302
    assert Subnet.objects.get().cidr == "10.3.0.0/24"


def test_overlapping_range_is_a_form_error(site):
    existing = IPRangeFactory()
    response = site.post("/admin/zones/iprange/add/", {
        "subnet": existing.subnet_id, "type": "reserved",
        "start_ip": str(existing.subnet.network[150]),
        "end_ip": str(existing.subnet.network[160]), "comment": ""})
    assert response.status_code == 200
    assert "start_ip" in response.context["adminform"].form.errors
    assert IPRange.objects.count() == 1


def test_static_ip_add_maps_user(site):
    subnet = SubnetFactory(cidr="10.8.0.0/24")
    owner = UserFactory()
    response = site.post("/admin/zones/staticipaddress/add/", {
        "ip": "10.8.0.5", "subnet": subnet.pk, "alloc_type": "user_reserved",
        "interface": "", "user": owner.pk})
    assert response.status_code == 302
    assert StaticIPAddress.objects.get().user == owner


def test_refused_delete_redirects_with_message(site):
    static = StaticIPAddressFactory()
    response = site.post(f"/admin/zones/subnet/{static.subnet_id}/delete/", {"post": "yes"},
                         follow=True)
    assert response.status_code == 200
    assert "static IP" in " ".join(str(m) for m in response.context["messages"])
    assert Subnet.objects.filter(pk=static.subnet_id).exists()


def test_racks_are_not_added_but_subnets_can_be_attached(site, admin):
    rack = RackControllerFactory()
    subnet = SubnetFactory()
    assert site.get("/admin/zones/rackcontroller/add/").status_code == 403
    response = site.post(f"/admin/zones/rackcontroller/{rack.pk}/change/",
                         {"subnets": [subnet.pk]})
    assert response.status_code == 302
    assert list(RackController.objects.get().subnets.all()) == [subnet]
    assert Event.objects.filter(type="rack_updated", user=admin).exists()


def test_staff_without_superuser_cannot_write(db):
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/zones/zone/add/").status_code == 403



def test_rack_page_hides_token_hash_and_leases_are_listed(site):
    from zones.services.rackapi import rack_register, rack_secret

    rack, token = rack_register(rack_secret(), "admin-rack", "1", [])
    page = site.get(f"/admin/zones/rackcontroller/{rack.pk}/change/").content.decode()
    assert rack.token_hash not in page and token not in page
    assert site.get("/admin/zones/dhcplease/").status_code == 200
    assert site.get("/admin/zones/dhcplease/add/").status_code == 403
