"""A machine's script results: sets newest first, current-* aliases, raw outputs, visibility."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.models import ScriptSet
from nodes.services.scripts import script_set_create
from tests.factories import MachineFactory, ScriptResultFactory, ScriptSetFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def machine():
    return MachineFactory()


def url(machine, *parts: str) -> str:
    return "/".join([f"/api/v1/machines/{machine.system_id}/results", *parts]) + "/"


def test_sets_newest_first_and_type_filter(user_client, machine):
    old = script_set_create(machine, "commissioning")
    ScriptSet.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=1))
    testing = script_set_create(machine, "testing", scripts=[])
    new = script_set_create(machine, "commissioning")
    body = user_client.get(url(machine)).json()
    assert [s["id"] for s in body] == [new.pk, testing.pk, old.pk]
    assert body[0]["status"] == "pending" and body[0]["result_count"] == 8  # the built-in scripts
    assert "results" not in body[0]
    only = user_client.get(url(machine), {"type": "commissioning"}).json()
    assert [s["id"] for s in only] == [new.pk, old.pk]
    assert user_client.get(url(machine), {"type": "x"}).status_code == 400


def test_set_detail_by_id_and_current_alias(user_client, machine):
    script_set = ScriptSetFactory(machine=machine, result_type="testing")
    now = timezone.now()
    ScriptResultFactory(script_set=script_set, script_name="b-fail", status="failed",
                        exit_status=3, started=now, ended=now, runtime=1.5)
    ScriptResultFactory(script_set=script_set, script_name="a-ok", status="passed",
                        exit_status=0)
    for key in (str(script_set.pk), "current-testing"):
        body = user_client.get(url(machine, key)).json()
        assert body["id"] == script_set.pk and body["status"] == "failed"
        assert [r["script_name"] for r in body["results"]] == ["a-ok", "b-fail"]
    failed = body["results"][1]
    assert (failed["status"], failed["status_name"], failed["exit_status"]) == (
        "failed", "Failed", 3)
    assert failed["runtime"] == 1.5 and failed["started"] and failed["ended"]
    assert failed["output_urls"]["stdout"] == (
        url(machine, str(script_set.pk), "b-fail", "output") + "?stream=stdout")
    assert user_client.get(url(machine, "current-commissioning")).status_code == 404
    assert user_client.get(url(machine, "999999")).status_code == 404
    assert user_client.get(url(machine, "latest")).status_code == 404


def test_output_streams_are_raw_text(user_client, machine):
    result = ScriptResultFactory(script_set__machine=machine, script_name="10-cpu",
                                 stdout=b"cpu_count=4\n", stderr=b"warn\n",
                                 output=b"cpu_count=4\nwarn\n", result=b"{}")
    base = url(machine, str(result.script_set_id), "10-cpu", "output")
    response = user_client.get(base)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content == b"cpu_count=4\nwarn\n"
    for stream, expected in (("stdout", b"cpu_count=4\n"), ("stderr", b"warn\n"),
                             ("result", b"{}")):
        assert user_client.get(base, {"stream": stream}).content == expected
    assert user_client.get(base, {"stream": "nope"}).status_code == 400
    current = url(machine, "current-commissioning", "10-cpu", "output")
    assert user_client.get(current).content == b"cpu_count=4\nwarn\n"
    assert user_client.get(url(machine, str(result.script_set_id), "x", "output")).status_code \
        == 404


def test_other_users_machines_are_404(user_client, admin_client):
    theirs = MachineFactory(owner=UserFactory())
    result = ScriptResultFactory(script_set__machine=theirs, script_name="10-cpu")
    key = str(result.script_set_id)
    for path in (url(theirs), url(theirs, key), url(theirs, key, "10-cpu", "output")):
        assert user_client.get(path).status_code == 404
        assert admin_client.get(path).status_code == 200


def test_a_set_of_another_machine_is_404(admin_client, machine):
    other = ScriptSetFactory()
    assert admin_client.get(url(machine, str(other.pk))).status_code == 404
