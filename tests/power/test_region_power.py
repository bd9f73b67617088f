"""Region side of power: power types, parameter validation, encryption at rest."""
import logging

import pytest
from django.db import connection

from nodes.models import Machine
from power.models import BMC
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
IPMI = {"power_address": "10.5.0.21", "power_user": "admin", "power_pass": "s3cr3t-pw"}


def create(client, **body):
    return client.post("/api/v1/machines/", {"hostname": "bmc-node", **body}, format="json")


def test_power_types_lists_drivers_with_schemas(user_client):
    body = user_client.get("/api/v1/power-types/").json()
    names = {driver["name"] for driver in body}
    assert {"ipmi", "redfish", "webhook", "manual", "fake"} <= names
    ipmi = next(d for d in body if d["name"] == "ipmi")
    fields = {f["name"]: f for f in ipmi["fields"]}
    assert fields["power_pass"]["secret"] and fields["power_pass"]["type"] == "password"
    assert fields["cipher_suite"]["default"] == "3"


def test_parameters_are_validated_against_the_schema(admin_client):
    response = create(admin_client, power_type="ipmi", power_parameters={"power_user": "x"})
    assert response.status_code == 400
    assert "power_address" in response.json()["power_parameters"]
    response = create(admin_client, power_type="ipmi",
                      power_parameters={**IPMI, "bogus": 1, "power_port": "abc"})
    errors = response.json()["power_parameters"]
    assert set(errors) == {"bogus", "power_port"}
    response = create(admin_client, power_type="carrier-pigeon")
    assert response.status_code == 400 and "power_type" in response.json()
    assert not Machine.objects.filter(hostname="bmc-node").exists()
    assert BMC.objects.count() == 0


def test_secrets_are_encrypted_at_rest_and_never_returned(admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = create(admin_client, power_type="ipmi", power_parameters=IPMI)
    assert response.status_code == 201, response.content
    system_id = response.json()["system_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT power_parameters FROM power_bmc")
        raw = str(cursor.fetchall())
    assert "s3cr3t-pw" not in raw and "fernet:" in raw
    bodies = [
        admin_client.get(f"/api/v1/machines/{system_id}/").content,
        admin_client.get("/api/v1/machines/").content,
        admin_client.get(f"/api/v1/machines/{system_id}/power-parameters/").content,
        admin_client.get("/api/v1/events/").content,
    ]
    assert all(b"s3cr3t-pw" not in body for body in bodies)
    shown = admin_client.get(f"/api/v1/machines/{system_id}/power-parameters/").json()
    assert shown["power_parameters"]["power_address"] == "10.5.0.21"
    assert "power_pass" not in shown["power_parameters"]
    assert "s3cr3t-pw" not in caplog.text


def test_omitted_secret_is_kept_on_update_and_bmc_is_shared(admin_client):
    first = create(admin_client, power_type="ipmi", power_parameters=IPMI).json()["system_id"]
    second = create(admin_client, hostname="blade-2", power_type="ipmi",
                    power_parameters=IPMI).json()["system_id"]
    assert BMC.objects.count() == 1
    patch = admin_client.patch(f"/api/v1/machines/{first}/", {
        "power_parameters": {"power_address": "10.5.0.21", "power_user": "root"}}, format="json")
    assert patch.status_code == 200, patch.content
    from power.services.parameters import machine_power_parameters

    machine = Machine.objects.get(system_id=first)
    assert machine_power_parameters(machine, reveal=True)["power_pass"] == "s3cr3t-pw"
    assert Machine.objects.get(system_id=second).bmc_id == machine.bmc_id


def test_users_cannot_read_power_parameters(user_client):
    machine = MachineFactory()
    url = f"/api/v1/machines/{machine.system_id}/power-parameters/"
    assert user_client.get(url).status_code == 403
