"""BMC admin: parameters shown without their secrets; read-only."""
import pytest
from django.test import Client

from power.services.parameters import machine_set_power
from tests.factories import AdminFactory, MachineFactory

pytestmark = pytest.mark.django_db


def test_bmc_admin_hides_secrets():
    machine = MachineFactory()
    machine_set_power(machine, "ipmi", {"power_address": "10.9.0.5", "power_user": "root",
                                        "power_pass": "admin-page-secret"})
    machine.save()
    client = Client()
    client.force_login(AdminFactory())
    urls = ["/admin/power/bmc/", f"/admin/power/bmc/{machine.bmc_id}/change/",
            f"/admin/nodes/machine/{machine.pk}/change/"]
    pages = [client.get(url) for url in urls]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "admin-page-secret" not in html and "fernet:" not in html
    assert "10.9.0.5" in pages[1].content.decode()
    assert client.get("/admin/power/bmc/add/").status_code == 403
