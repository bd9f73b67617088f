"""zones/ and resourcepools/: CRUD through the zones services, MAAS's shapes and codes."""
import base64

import pytest
from django.test import Client

from tests.maasapi.conftest import API
from zones.models import ResourcePool, Zone

pytestmark = pytest.mark.django_db


def multipart_base64(fields: dict[str, str], boundary: str = "===b64==") -> tuple[bytes, str]:
    """A body as python-libmaas builds it: each part base64 Content-Transfer-Encoded."""
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
                     f"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"
                     f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{base64.b64encode(value.encode()).decode()}\r\n")
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f'multipart/form-data; boundary="{boundary}"'


def test_zone_crud_with_maas_shapes(maas_admin):
    body, content_type = multipart_base64({"name": "rack-a", "description": "first row"})
    created = maas_admin.post(API + "zones/", body, content_type=content_type)
    assert created.status_code == 200, created.content
    zone = created.json()
    assert zone == {"id": zone["id"], "name": "rack-a", "description": "first row",
                    "resource_uri": API + "zones/rack-a/"}
    listed = maas_admin.get(API + "zones/").json()
    assert "rack-a" in [z["name"] for z in listed]
    body, content_type = multipart_base64({"description": "moved"})
    updated = maas_admin.put(API + "zones/rack-a/", body, content_type=content_type)
    assert updated.json()["description"] == "moved"
    # gomaasapi's PUT: urlencoded.
    renamed = maas_admin.put(API + "zones/rack-a/", "name=rack-b",
                             content_type="application/x-www-form-urlencoded")
    assert renamed.json()["resource_uri"] == API + "zones/rack-b/"
    deleted = maas_admin.delete(API + "zones/rack-b/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    missing = maas_admin.get(API + "zones/rack-b/")
    assert (missing.status_code, missing.content) == (404, b"No Zone matches the given query.")


def test_bad_input_is_400_json_by_field_and_nothing_is_saved(maas_admin):
    before = Zone.objects.count()
    response = maas_admin.post(API + "zones/", {"name": "bad\nname"})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert "name" in response.json()
    assert Zone.objects.count() == before


def test_users_may_read_but_not_change_zones(maas_user):
    assert maas_user.get(API + "zones/").status_code == 200
    response = maas_user.post(API + "zones/", {"name": "mine"})
    assert response.status_code == 403
    assert not Zone.objects.filter(name="mine").exists()
    assert Client().get(API + "zones/").status_code == 401


def test_pools_by_id_or_by_name(maas_admin):
    pool = maas_admin.post(API + "resourcepools/", {"name": "gpu"}).json()
    assert pool["resource_uri"] == API + f"resourcepool/{pool['id']}/"
    assert maas_admin.get(API + f"resourcepool/{pool['id']}/").json()["name"] == "gpu"
    assert maas_admin.get(API + "resourcepool/gpu/").json()["id"] == pool["id"]
    assert maas_admin.delete(API + "resourcepool/gpu/").status_code == 204
    assert not ResourcePool.objects.filter(name="gpu").exists()


def test_a_body_too_large_is_413_and_nothing_is_saved(maas_admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = maas_admin.post(API + "zones/", {"name": "big", "description": "x" * 4096})
    assert response.status_code == 413
    assert not Zone.objects.filter(name="big").exists()
