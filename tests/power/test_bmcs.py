"""BMC lifetime: the last machine of a BMC takes its record (and encrypted secrets) along."""
import importlib

import pytest
from django.apps import apps

from nodes.models import Machine
from power.models import BMC
from power.services.bmcs import bmc_delete_if_unused
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
IPMI = {"power_address": "10.5.0.21", "power_user": "admin", "power_pass": "s3cr3t-pw"}


def create(client, hostname, params=IPMI):
    response = client.post("/api/v1/machines/", {"hostname": hostname, "power_type": "ipmi",
                                                 "power_parameters": params}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["system_id"]


def test_deleting_the_last_machine_of_a_bmc_deletes_the_bmc(admin_client):
    first, second = create(admin_client, "blade-1"), create(admin_client, "blade-2")
    assert BMC.objects.count() == 1
    assert admin_client.delete(f"/api/v1/machines/{first}/").status_code == 204
    assert BMC.objects.count() == 1  # blade-2 still uses it
    assert admin_client.delete(f"/api/v1/machines/{second}/").status_code == 204
    assert not BMC.objects.exists()


def test_moving_a_machine_to_another_bmc_deletes_the_one_left_unused(admin_client):
    system_id = create(admin_client, "blade-1")
    old = Machine.objects.get(system_id=system_id).bmc_id
    response = admin_client.patch(f"/api/v1/machines/{system_id}/", {
        "power_parameters": {**IPMI, "power_address": "10.5.0.22"}}, format="json")
    assert response.status_code == 200, response.content
    assert list(BMC.objects.values_list("address", flat=True)) == ["10.5.0.22"]
    assert not BMC.objects.filter(pk=old).exists()
    response = admin_client.patch(f"/api/v1/machines/{system_id}/", {"power_type": "manual"},
                                  format="json")
    assert response.status_code == 200 and not BMC.objects.exists()


def test_a_bmc_in_use_is_kept():
    bmc = BMC.objects.create(power_type="ipmi", address="10.0.0.1")
    MachineFactory(bmc=bmc)
    assert bmc_delete_if_unused(bmc.pk) is False and BMC.objects.filter(pk=bmc.pk).exists()
    assert bmc_delete_if_unused(None) is False


def test_the_migration_deletes_existing_orphans():
    used = BMC.objects.create(power_type="ipmi", address="10.0.0.1")
    MachineFactory(bmc=used)
    BMC.objects.create(power_type="ipmi", address="10.0.0.2")
    migration = importlib.import_module("power.migrations.0002_delete_orphan_bmcs")
    migration.delete_orphan_bmcs(apps, None)
    assert list(BMC.objects.all()) == [used]
