"""Scripts API: list and filters, read with body, upload (JSON and multipart), edit, delete."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from nodes.models import Script
from tests.factories import ScriptFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/scripts/"
BODY = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: memtest
# title: Memory test
# tags: memory, slow
# script_type: test
# hardware_type: memory
# timeout: '00:30:00'
# --- End MAAS 1.0 script metadata ---
memtester 1G 1
"""


def test_list_and_filters(user_client):
    ScriptFactory(name="smoke", tags=["default", "quick"], hardware_type="node")
    ScriptFactory(name="stress", tags=["quick", "slow"], hardware_type="cpu")
    names = lambda **params: [s["name"] for s in user_client.get(URL, params).json()]  # noqa: E731
    assert {"10-cpu", "smoke", "stress"} <= set(names())
    assert names(script_type="testing") == ["smoke", "stress"]
    assert names(script_type="test", hardware_type="cpu") == ["stress"]
    assert "10-cpu" in names(script_type="commissioning", hardware_type="cpu")
    assert names(tags="quick") == ["smoke", "stress"]
    assert names(tags="quick,slow") == ["stress"]
    assert user_client.get(URL, {"script_type": "deploy"}).status_code == 400
    body = user_client.get(URL).json()[0]
    assert "body" not in body and body["resource_uri"] == f"{URL}{body['name']}/"


def test_get_with_and_without_body(user_client):
    plain = user_client.get(f"{URL}10-cpu/").json()
    assert plain["default"] is True and "body" not in plain and plain["timeout"] == 60
    full = user_client.get(f"{URL}10-cpu/", {"include_script": "true"}).json()
    assert full["body"].startswith("#!/bin/sh")
    assert user_client.get(f"{URL}nope/").status_code == 404


def test_create_json_and_metadata(admin_client):
    response = admin_client.post(URL, {"body": BODY, "description": "overrides"}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["name"], data["script_type"], data["timeout"]) == ("memtest", "testing", 1800)
    assert data["tags"] == ["memory", "slow"] and data["description"] == "overrides"
    assert data["body"] == BODY


def test_create_multipart_file_maas_style(admin_client):
    upload = SimpleUploadedFile("fw-check", b"#!/bin/sh\necho ok\n")
    response = admin_client.post(URL, {"script": upload, "script_type": "commissioning",
                                       "tags": "firmware,quick", "timeout": "60"},
                                 format="multipart")
    assert response.status_code == 201, response.json()
    script = Script.objects.get(name="fw-check")
    assert script.tags == ["firmware", "quick"] and script.script_type == "commissioning"
    assert script.body == "#!/bin/sh\necho ok\n" and script.timeout == 60
    named = admin_client.post(URL, {"script": SimpleUploadedFile("x.sh", BODY.encode()),
                                    "name": "memtest2"}, format="multipart")
    assert named.status_code == 201 and named.json()["title"] == "Memory test"


@pytest.mark.parametrize("payload, field", [
    ({"body": BODY.replace("'00:30:00'", "soon")}, "timeout"),
    ({"body": BODY.replace("# tags: memory, slow", "# tags: [oops")}, "body"),
    ({"body": "#!/bin/sh\n"}, "name"),
    ({"name": "x"}, "body"),
    ({"body": BODY, "parallel": "always"}, "parallel"),
    ({"body": BODY, "parameters": {"p": "notamapping"}}, "parameters"),
])
def test_create_invalid_is_400_with_field_errors_and_nothing_saved(admin_client, payload, field):
    before = Script.objects.count()
    response = admin_client.post(URL, payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert Script.objects.count() == before


def test_duplicate_name_is_400(admin_client):
    assert admin_client.post(URL, {"body": BODY}, format="json").status_code == 201
    response = admin_client.post(URL, {"body": BODY}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_update_and_delete(admin_client):
    admin_client.post(URL, {"body": BODY}, format="json")
    response = admin_client.patch(f"{URL}memtest/", {"timeout": "5:00", "tags": ["a"]},
                                  format="json")
    assert response.status_code == 200
    assert (response.json()["timeout"], response.json()["tags"]) == (300, ["a"])
    response = admin_client.put(f"{URL}memtest/", {"body": BODY.replace("slow", "fast")},
                                format="json")
    assert response.json()["tags"] == ["memory", "fast"]
    assert admin_client.patch(f"{URL}memtest/", {"timeout": "x"},
                              format="json").status_code == 400
    form = admin_client.patch(f"{URL}memtest/", "timeout=00:10:00",
                              content_type="application/x-www-form-urlencoded")
    assert form.status_code == 200 and form.json()["timeout"] == 600
    assert admin_client.delete(f"{URL}memtest/").status_code == 204
    assert admin_client.delete(f"{URL}memtest/").status_code == 404


def test_builtins_cannot_be_deleted_or_edited(admin_client):
    response = admin_client.delete(f"{URL}10-cpu/")
    assert response.status_code == 400 and "built in" in response.json()["detail"]
    assert admin_client.patch(f"{URL}10-cpu/", {"timeout": 1}, format="json").status_code == 400
    assert Script.objects.get(name="10-cpu").timeout == 60


def test_users_read_but_cannot_write(user_client, anon_client):
    ScriptFactory(name="smoke")
    assert user_client.post(URL, {"body": BODY}, format="json").status_code == 403
    assert user_client.patch(f"{URL}smoke/", {"title": "x"}, format="json").status_code == 403
    assert user_client.delete(f"{URL}smoke/").status_code == 403
    assert anon_client.get(URL).status_code == 401
    assert Script.objects.filter(name="smoke").exists()


def test_patch_name_renames_and_keeps_names_unique(admin_client):
    admin_client.post(URL, {"body": BODY}, format="json")
    ScriptFactory(name="taken")
    response = admin_client.patch(f"{URL}memtest/", {"name": "memtest2"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["resource_uri"] == f"{URL}memtest2/"
    assert admin_client.get(f"{URL}memtest/").status_code == 404
    for bad in ("taken", "has space", "../x", "10-cpu"):
        response = admin_client.patch(f"{URL}memtest2/", {"name": bad}, format="json")
        assert response.status_code == 400 and "name" in response.json(), response.content
    assert Script.objects.filter(name="memtest2").exists()
