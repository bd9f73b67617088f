"""Zones and pools: names, the undeletable `default`, and machines that keep them in use."""
import pytest

from tests.factories import MachineFactory, ResourcePoolFactory, ZoneFactory
from zones.models import ResourcePool, Zone

pytestmark = pytest.mark.django_db

KINDS = [("zones", Zone, ZoneFactory, "zone"), ("pools", ResourcePool, ResourcePoolFactory, "pool")]
IDS = ["zones", "pools"]


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_duplicate_name_is_a_field_error(admin_client, url, model, factory, field):
    factory(name="lab")
    before = model.objects.count()
    response = admin_client.post(f"/api/v1/{url}/", {"name": "lab"}, format="json")
    assert response.status_code == 400
    assert "name" in response.data
    assert model.objects.count() == before


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_blank_name_is_a_field_error(admin_client, url, model, factory, field):
    before = model.objects.count()
    response = admin_client.post(f"/api/v1/{url}/", {"name": ""}, format="json")
    assert response.status_code == 400
    assert "name" in response.data
    assert model.objects.count() == before


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_default_cannot_be_renamed(admin_client, url, model, factory, field):
    default = model.objects.get(name="default")
    response = admin_client.patch(f"/api/v1/{url}/{default.pk}/", {"name": "other"},
                                  format="json")
    assert response.status_code == 400
    assert "cannot be renamed" in response.data["name"][0]
    assert model.objects.filter(pk=default.pk, name="default").exists()


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_default_description_can_change(admin_client, url, model, factory, field):
    default = model.objects.get(name="default")
    response = admin_client.patch(f"/api/v1/{url}/{default.pk}/", {"description": "main"},
                                  format="json")
    assert response.status_code == 200
    assert model.objects.get(pk=default.pk).description == "main"


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_default_cannot_be_deleted(admin_client, url, model, factory, field):
    default = model.objects.get(name="default")
    response = admin_client.delete(f"/api/v1/{url}/{default.pk}/")
    assert response.status_code == 400
    assert "cannot be deleted" in response.data["name"][0]
    assert model.objects.filter(name="default").exists()


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_in_use_cannot_be_deleted(admin_client, url, model, factory, field):
    group = factory()
    MachineFactory(**{field: group})
    response = admin_client.delete(f"/api/v1/{url}/{group.pk}/")
    assert response.status_code == 409
    assert "1 machine" in response.data["detail"]
    assert model.objects.filter(pk=group.pk).exists()


@pytest.mark.parametrize("url,model,factory,field", KINDS, ids=IDS)
def test_machine_count_and_name_filter(user_client, url, model, factory, field):
    group = factory(name="busy")
    factory(name="idle")
    MachineFactory.create_batch(2, **{field: group})
    response = user_client.get(f"/api/v1/{url}/", {"name": "busy"})
    assert [row["name"] for row in response.data["results"]] == ["busy"]
    assert response.data["results"][0]["machine_count"] == 2
