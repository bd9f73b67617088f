"""machines/?op=add_chassis: MAAS's answer, its refusals, and describe/."""
import pytest

from rack_worker.client import CHASSIS_TASK
from tests.maasapi.conftest import API
from tests.power.chassis_support import chassis_messages, make_chassis_rack

BODY = {"chassis_type": "redfish", "hostname": "10.0.0.9:8000", "username": "admin",
        "password": "Chassis-S3cret!"}


@pytest.fixture
def chassis_rack(db, tmp_path, monkeypatch):
    return make_chassis_rack(tmp_path, monkeypatch)


@pytest.mark.django_db
def test_maas_add_chassis_answers_as_maas(maas_admin, chassis_rack, sent):
    response = maas_admin.post(API + "machines/?op=add_chassis",
                               {**BODY, "prefix_filter": "node", "accept_all": "true"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == (
        f"Asking {chassis_rack.name} to add machines from chassis 10.0.0.9:8000")
    [message] = chassis_messages(sent)
    assert message["name"] == CHASSIS_TASK
    context = message["args"][0]["context"]
    assert context["prefix_filter"] == "node" and context["accept_all"] is True


@pytest.mark.django_db
def test_maas_add_chassis_refusals(maas_admin, maas_user, chassis_rack, sent):
    missing = maas_admin.post(API + "machines/?op=add_chassis", {"chassis_type": "redfish"})
    assert missing.status_code == 400 and "hostname" in missing.json()
    bad_type = maas_admin.post(API + "machines/?op=add_chassis", {**BODY, "chassis_type": "x"})
    assert bad_type.status_code == 400 and "chassis_type" in bad_type.json()
    nul = maas_admin.post(API + "machines/?op=add_chassis", {**BODY, "pool": "p\x00"})
    assert nul.status_code == 400 and "pool" in nul.json()
    assert maas_user.post(API + "machines/?op=add_chassis", BODY).status_code == 403
    assert chassis_messages(sent) == []


@pytest.mark.django_db
def test_describe_lists_add_chassis_with_its_params(maas_admin):
    resources = maas_admin.get(API + "describe/").json()["resources"]
    handler = next(r["auth"] for r in resources if r["name"] == "MachinesHandler")
    action = next(a for a in handler["actions"] if a["name"] == "add_chassis")
    assert action["method"] == "POST" and ":param chassis_type:" in action["doc"]
