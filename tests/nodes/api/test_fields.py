"""MacAddressField: unicast MACs given as strings, everywhere the API accepts a MAC."""
import pytest
from rest_framework import serializers

from nodes.api.fields import MacAddressField
from nodes.models import Interface, Machine
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
REFUSED = [12345, True, None, ["52:54:00:12:34:56"], "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01",
           "33:33:00:00:00:01", "zz", "52:54:00:12:34", "52:54:00-12:34:56", "0x525400123456",
           "52:54:00:12:34:56\n7"]


@pytest.mark.parametrize(("given", "stored"), [
    ("52:54:00:12:34:56", "52:54:00:12:34:56"), ("52-54-00-AB-CD-EF", "52:54:00:ab:cd:ef"),
    ("5254.00ab.cdef", "52:54:00:ab:cd:ef"), ("525400ABCDEF", "52:54:00:ab:cd:ef"),
])
def test_accepted_formats_are_normalised(given, stored):
    assert MacAddressField().run_validation(given) == stored


@pytest.mark.parametrize("given", REFUSED)
def test_numbers_other_formats_broadcast_and_multicast_are_refused(given):
    with pytest.raises(serializers.ValidationError):
        MacAddressField().run_validation(given)


@pytest.mark.parametrize("given", [12345, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"])
def test_machine_and_interface_endpoints_refuse_them(admin_client, given):
    response = admin_client.post("/api/v1/machines/", {"hostname": "h1", "mac_addresses": [given]},
                                 format="json")
    assert response.status_code == 400 and "mac_addresses" in response.json()
    machine = MachineFactory()
    response = admin_client.post(f"/api/v1/machines/{machine.system_id}/interfaces/",
                                 {"name": "eth0", "mac_address": given}, format="json")
    assert response.status_code == 400 and "mac_address" in response.json()
    assert not Interface.objects.exists() and not Machine.objects.filter(hostname="h1").exists()


def test_machine_create_stores_the_lowercase_colon_form(admin_client):
    response = admin_client.post("/api/v1/machines/", {"hostname": "h1",
                                                       "mac_addresses": ["52-54-00-AB-CD-EF"]},
                                 format="json")
    assert response.status_code == 201, response.content
    assert response.json()["boot_interface"]["mac_address"] == "52:54:00:ab:cd:ef"
