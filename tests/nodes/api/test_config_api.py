"""/api/v1/config/: read by everyone, changed by administrators, all names or none."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import ConfigItem
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/config/"


def test_anyone_authenticated_reads_it_anonymous_does_not(user_client, anon_client):
    assert anon_client.get(URL).status_code == 401
    response = user_client.get(URL)
    assert response.status_code == 200
    assert response.json()["enable_disk_erasing_on_release"] is False


def test_admins_change_it_users_cannot(admin_client, user_client):
    assert user_client.patch(URL, {"maas_name": "x"}, format="json").status_code == 403
    response = admin_client.patch(URL, {"maas_name": "lab", "default_distro_series": "noble"},
                                  format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["maas_name"], response.json()["default_distro_series"]) == (
        "lab", "noble")


def test_bad_input_is_400_by_name_and_nothing_is_saved(admin_client):
    for body, fields in (
            ({"maas_name": "lab", "enable_disk_erasing_on_release": 0},
             {"enable_disk_erasing_on_release"}),
            ({"maas_name": 7}, {"maas_name"}),
            ({"maas_name": "lab", "default_distro_series": "../x", "unknown": "1"},
             {"default_distro_series", "unknown"})):
        response = admin_client.patch(URL, body, format="json")
        assert response.status_code == 400
        assert set(response.json()) == fields
    assert not ConfigItem.objects.exists()
    assert admin_client.patch(URL, ["maas_name"], format="json").status_code == 400


def test_release_erases_when_configured_and_not_told_otherwise(admin_client, power_requests):
    admin_client.patch(URL, {"enable_disk_erasing_on_release": True}, format="json")
    erased, kept = (MachineFactory(status=NodeStatus.DEPLOYED, owner=admin_client.user,
                                   power_type="fake") for _ in range(2))
    assert admin_client.post(f"/api/v1/machines/{erased.system_id}/release/", {},
                             format="json").status_code == 200
    assert admin_client.post(f"/api/v1/machines/{kept.system_id}/release/", {"erase": False},
                             format="json").status_code == 200
    erased.refresh_from_db()
    kept.refresh_from_db()
    assert erased.status == NodeStatus.DISK_ERASING
    assert kept.status == NodeStatus.RELEASING
