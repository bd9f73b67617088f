"""Known architectures: MAAS's arch/subarch names; anything else is refused."""
import pytest
from django.core.exceptions import ValidationError

from nodes.architectures import (
    normalise_architecture,
    validate_architecture,
    validate_known_architecture,
)
from nodes.models import Machine
from tests.factories import MachineFactory

KNOWN = ["amd64/generic", "arm64/generic", "i386/generic", "ppc64el/generic", "s390x/generic",
         "armhf/generic", "arm64/xgene", "amd64/hwe-24.04", "amd64/ga-22.04"]
UNKNOWN = ["../../etc", "amd64/../x", "amd64/generic\n", "amd64\n/generic", "", "x86/generic",
           "amd64/nope", "AMD64/generic", "armhf/xgene", 64, None]


@pytest.mark.parametrize("value", KNOWN)
def test_known_architectures_pass(value):
    validate_architecture(value)
    assert normalise_architecture(value) == value


def test_a_bare_architecture_is_its_generic_subarchitecture():
    assert normalise_architecture("arm64") == "arm64/generic"
    with pytest.raises(ValidationError):
        validate_architecture("arm64")


@pytest.mark.parametrize("value", UNKNOWN)
def test_unknown_architectures_are_refused(value):
    with pytest.raises(ValidationError, match="architecture"):
        validate_architecture(value)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["../../etc", "amd64/generic\nx", "riscv", "amd64/nope"])
def test_api_refuses_unknown_architectures(admin_client, value):
    response = admin_client.post("/api/v1/machines/", {"hostname": "h1", "architecture": value},
                                 format="json")
    assert response.status_code == 400 and "architecture" in response.json(), response.content
    machine = MachineFactory()
    response = admin_client.patch(f"/api/v1/machines/{machine.system_id}/",
                                  {"architecture": value}, format="json")
    assert response.status_code == 400 and "architecture" in response.json()
    assert Machine.objects.get(pk=machine.pk).architecture == "amd64/generic"
    assert not Machine.objects.filter(hostname="h1").exists()


@pytest.mark.django_db
def test_api_completes_a_bare_architecture(admin_client):
    response = admin_client.post("/api/v1/machines/", {"hostname": "h1", "architecture": "arm64"},
                                 format="json")
    assert response.status_code == 201 and response.json()["architecture"] == "arm64/generic"


def test_boot_images_may_name_the_bare_architecture():
    validate_known_architecture("amd64")
    validate_known_architecture("arm64/xgene")
    with pytest.raises(ValidationError):
        validate_known_architecture("../../etc")
