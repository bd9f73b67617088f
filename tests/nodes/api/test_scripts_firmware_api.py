"""Scripts API: MAAS's firmware-update fields (for_hardware, may_reboot, recommission, packages)
from the metadata block and as API fields; bad values are 400s naming the field."""
import pytest

from nodes.models import Script

pytestmark = pytest.mark.django_db
URL = "/api/v1/scripts/"
BODY = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: 90-nic-firmware
# script_type: commissioning
# for_hardware: [pci:1AF4:1000, 'modalias:pci:v00008086d00001572*']
# may_reboot: true
# recommission: true
# --- End MAAS 1.0 script metadata ---
echo flashing
"""


def test_fields_from_the_metadata_block(admin_client):
    response = admin_client.post(URL, {"body": BODY}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["for_hardware"] == ["pci:1af4:1000", "modalias:pci:v00008086d00001572*"]
    assert (body["may_reboot"], body["recommission"], body["packages"]) == (True, True, {})


def test_api_fields_win_and_a_form_may_repeat_for_hardware(admin_client):
    response = admin_client.post(URL, {"body": BODY, "for_hardware": "usb:0bda:8153",
                                       "may_reboot": False}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["for_hardware"] == ["usb:0bda:8153"]
    assert response.json()["may_reboot"] is False
    form = admin_client.patch(f"{URL}90-nic-firmware/",
                              "for_hardware=pci:8086:1572&for_hardware=system_vendor:Dell+Inc.",
                              content_type="application/x-www-form-urlencoded")
    assert form.status_code == 200, form.json()
    assert Script.objects.get(name="90-nic-firmware").for_hardware == [
        "pci:8086:1572", "system_vendor:Dell Inc."]


@pytest.mark.parametrize("payload, field", [
    ({"body": BODY, "for_hardware": ["pci:1af4"]}, "for_hardware"),
    ({"body": BODY, "for_hardware": ["nic:1af4:1000"]}, "for_hardware"),
    ({"body": BODY.replace("pci:1AF4:1000", "pci:xyz")}, "for_hardware"),
    ({"body": BODY, "may_reboot": "perhaps"}, "may_reboot"),
    ({"body": BODY, "packages": {"apt": ["fwupd"]}}, "packages"),
    ({"body": BODY.replace("# may_reboot: true", "# packages: {snap: [fwupd]}")}, "packages"),
    ({"body": BODY.replace("script_type: commissioning", "script_type: testing")},
     "recommission"),
])
def test_bad_values_are_400_naming_the_field(admin_client, payload, field):
    response = admin_client.post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Script.objects.filter(name="90-nic-firmware").exists()


def test_packages_refusal_says_why(admin_client):
    response = admin_client.post(URL, {"body": BODY, "packages": {"url": ["http://x/fw.tgz"]}},
                                 format="json")
    assert "busybox initramfs" in str(response.json()["packages"])
