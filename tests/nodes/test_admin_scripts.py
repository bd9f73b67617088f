"""Django admin for scripts and script sets: writes through the services, built-ins read-only."""
import pytest
from django.test import Client

from nodes.models import Script
from tests.factories import AdminFactory, ScriptFactory, ScriptResultFactory

pytestmark = pytest.mark.django_db
BODY = ("#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: from-body\n"
        "# tags: [a, b]\n# timeout: 120\n# --- End MAAS 1.0 script metadata ---\necho\n")


@pytest.fixture
def site() -> Client:
    client = Client()
    client.force_login(AdminFactory())
    return client


def form(**overrides) -> dict:
    data = {"name": "probe", "title": "", "description": "", "tags": "[]",
            "script_type": "testing", "hardware_type": "node", "parallel": "disabled",
            "timeout": "0", "parameters": "{}", "body": BODY}
    return {**data, **overrides}


def test_add_uses_metadata_for_untouched_fields(site):
    response = site.post("/admin/nodes/script/add/", form())
    assert response.status_code == 302, response.content[:2000]
    script = Script.objects.get(name="probe")
    assert script.tags == ["a", "b"] and script.timeout == 120 and not script.default


def test_bad_metadata_is_a_form_error(site):
    body = BODY.replace("timeout: 120", "timeout: soon")
    response = site.post("/admin/nodes/script/add/", form(body=body))
    assert response.status_code == 200 and b"soon" in response.content
    assert not Script.objects.filter(name="probe").exists()


def test_change_user_script_and_builtins_are_read_only(site):
    script = ScriptFactory(name="mine", body=BODY)
    response = site.post(f"/admin/nodes/script/{script.pk}/change/",
                         form(name="mine", title="New title", tags='["x"]'))
    assert response.status_code == 302
    script.refresh_from_db()
    assert (script.title, script.tags) == ("New title", ["x"])
    builtin = Script.objects.get(name="10-cpu")
    page = site.get(f"/admin/nodes/script/{builtin.pk}/change/")
    assert page.status_code == 200 and b"/proc/cpuinfo" in page.content
    assert site.post(f"/admin/nodes/script/{builtin.pk}/delete/",
                     {"post": "yes"}).status_code == 403
    assert Script.objects.filter(name="10-cpu").exists()


def test_script_set_page_shows_results_read_only(site):
    result = ScriptResultFactory(script_name="10-cpu", status="passed",
                                 output=b"cpu_count=4 <b>bold</b>\n")
    page = site.get(f"/admin/nodes/scriptset/{result.script_set_id}/change/")
    assert page.status_code == 200
    assert b"cpu_count=4 &lt;b&gt;bold&lt;/b&gt;" in page.content
    assert site.get("/admin/nodes/scriptset/add/").status_code == 403
    assert site.get("/admin/nodes/scriptset/").status_code == 200
    assert site.get("/admin/nodes/script/").status_code == 200
