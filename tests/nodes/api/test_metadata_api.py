"""Metadata API: tokens (401/404), the job, script bodies, result uploads (400, nothing stored)."""
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from nodes.choices import NodeStatus, ScriptStatus
from nodes.models import Event, ScriptResult
from nodes.services.tokens import token_issue, token_revoke
from tests.factories import InterfaceFactory, MachineFactory, machine_lease
from tests.nodes.api.metadata_helpers import API, machine_client, running_job

pytestmark = pytest.mark.django_db


def result_row(result) -> dict:
    row = ScriptResult.objects.values().get(pk=result.pk)
    return {key: bytes(value) if isinstance(value, memoryview) else value
            for key, value in row.items()}


def test_job_as_json_lists_the_scripts_to_run(settings):
    settings.METADATA_HEARTBEAT_INTERVAL = 7
    machine, script_set, (second, first), key = running_job(names=("02-b", "01-a"))
    first.parameters = {"storage": "sda"}
    first.save()
    body = machine_client(machine, key).get(API + "job/", HTTP_ACCEPT="application/json").json()
    assert body == {
        "system_id": machine.system_id, "job": "commissioning", "script_set": script_set.pk,
        "heartbeat_interval": 7, "poweroff": True, "more": False, "scripts": [
            {"id": first.pk, "name": "01-a", "timeout": 5, "parallel": "disabled",
             "hardware_type": "node", "parameters": {"storage": "sda"}, "may_reboot": False,
             "has_started": False},
            {"id": second.pk, "name": "02-b", "timeout": 5, "parallel": "disabled",
             "hardware_type": "node", "parameters": {}, "may_reboot": False,
             "has_started": False},
        ]}


def test_job_as_runner_embeds_the_scripts_but_not_the_token():
    machine, _set, results, key = running_job()
    response = machine_client(machine, key).get(API + "job/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert text.startswith("#!/bin/sh\n")
    for result in results:
        assert f"{result.pk} {result.script_name} 5 disabled" in text
    assert key not in text and machine.system_id in text


def test_finished_results_are_left_out_of_a_refetched_job():
    machine, _set, (a, b), key = running_job()
    ScriptResult.objects.filter(pk=a.pk).update(status=ScriptStatus.PASSED)
    body = machine_client(machine, key).get(API + "job/", HTTP_ACCEPT="application/json").json()
    assert [s["id"] for s in body["scripts"]] == [b.pk]


def test_script_body_is_served_as_text():
    machine, _set, (a, _b), key = running_job()
    response = machine_client(machine, key).get(API + f"scripts/{a.pk}/")
    assert response.status_code == 200
    assert response.content == b"#!/bin/sh\necho 01-a\n"


ENDPOINTS = [
    ("get", "job/"), ("get", "scripts/{id}/"), ("post", "results/{id}/start/"),
    ("post", "results/{id}/output/?stream=stdout"), ("post", "results/{id}/finish/"),
    ("post", "heartbeat/"), ("post", "status/"),
]


def _call(client, method: str, path: str, result_id: int):
    url = API + path.format(id=result_id)
    if method == "get":
        return client.get(url)
    data = {"exit_status": 0, "runtime": 1, "status": "ok"}
    if "output" in url:
        return client.post(url, data=b"hi", content_type="application/octet-stream")
    return client.post(url, data)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_malformed_and_revoked_tokens_are_401(method, path):
    machine, _set, (result, _b), key = running_job()
    InterfaceFactory(machine=machine)  # hello's MAC lookup must not stand in for a token
    anonymous = APIClient(REMOTE_ADDR="192.0.2.1")  # in no enlisting subnet
    revoked = machine_client(machine, key)
    token_revoke(machine)
    for client in (anonymous, machine_client(machine, "x" * 40), revoked,
                   machine_client(machine, key.upper())):
        response = _call(client, method, path, result.pk)
        assert response.status_code == 401, (client, response.content)
        assert response["WWW-Authenticate"] == 'Machine realm="metadata"'
    for header in ("Machine nocolon", "Bearer a:b:c", f"machine {machine.system_id}:{key}"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert _call(client, method, path, result.pk).status_code == 401
    assert result_row(result)["status"] == ScriptStatus.PENDING


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if "{id}" in e[1]])
def test_a_token_cannot_touch_another_machines_results(method, path):
    machine_a, _set_a, _results_a, key_a = running_job()
    _machine_b, _set_b, (result_b, _), _key_b = running_job(names=("11-x", "12-y"))
    before = result_row(result_b)
    client = machine_client(machine_a, key_a)
    assert _call(client, method, path, result_b.pk).status_code == 404
    # An id that does not exist at all answers the same: nothing tells the two apart.
    assert _call(client, method, path, result_b.pk + 1000).status_code == 404
    assert result_row(result_b) == before
    assert not Event.objects.filter(machine=_machine_b).exists()


def test_a_token_only_ever_sees_its_own_job():
    machine_a, set_a, _results, key_a = running_job()
    running_job(names=("11-x",))
    body = machine_client(machine_a, key_a).get(API + "job/",
                                                HTTP_ACCEPT="application/json").json()
    assert body["system_id"] == machine_a.system_id and body["script_set"] == set_a.pk


def test_start_marks_running_and_records_the_event():
    machine, script_set, (result, _b), key = running_job()
    assert machine_client(machine, key).post(API + f"results/{result.pk}/start/").status_code \
        == 200
    result.refresh_from_db()
    script_set.refresh_from_db()
    assert result.status == ScriptStatus.RUNNING and result.started is not None
    assert script_set.last_ping is not None
    event = Event.objects.get(machine=machine, type="script_started")
    assert event.description == "commissioning script 01-a started"
    assert key not in event.description


@pytest.mark.parametrize(("stream", "field"), [("stdout", "stdout"), ("stderr", "stderr"),
                                               ("combined", "output"), ("result", "result")])
def test_output_replaces_one_stream(stream, field):
    machine, _set, (result, _b), key = running_job()
    client = machine_client(machine, key)
    url = API + f"results/{result.pk}/output/?stream={stream}"
    for body in (b"first\n", b"second\x00\xff\n"):
        assert client.post(url, data=body, content_type="text/plain").status_code == 200
    row = result_row(result)
    assert row[field] == b"second\x00\xff\n"
    assert all(row[other] == b"" for other in ("stdout", "stderr", "output", "result")
               if other != field)


@pytest.mark.parametrize(("fields", "timed_out", "status"), [
    ({"exit_status": "0", "runtime": "1.25"}, None, ScriptStatus.PASSED),
    ({"exit_status": "3", "runtime": "0.5"}, None, ScriptStatus.FAILED),
    ({"exit_status": "143", "runtime": "2.0"}, "1", ScriptStatus.TIMEDOUT),
])
def test_finish_sets_status_exit_and_runtime(fields, timed_out, status):
    machine, _set, (result, _b), key = running_job()
    data = dict(fields, **({"timed_out": timed_out} if timed_out else {}))
    response = machine_client(machine, key).post(API + f"results/{result.pk}/finish/", data)
    assert response.status_code == 200
    result.refresh_from_db()
    assert (result.status, result.exit_status, result.runtime) == (
        status, int(fields["exit_status"]), float(fields["runtime"]))
    assert result.ended is not None and result.started is not None
    event = Event.objects.get(machine=machine, type="script_finished")
    assert event.description == (f"commissioning script 01-a: {result.get_status_display()} "
                                 f"(exit {fields['exit_status']}) in "
                                 f"{float(fields['runtime']):.1f} s")


MALFORMED = [
    ("output", "?stream=stdin", b"x"),
    ("output", "", b"x"),
    ("output", "?stream=stdout", b"x" * 11),  # METADATA_MAX_OUTPUT is 10 below
    ("finish", "", {"exit_status": "one", "runtime": "1"}),
    ("finish", "", {"exit_status": "1.5", "runtime": "1"}),
    ("finish", "", {"exit_status": "0", "runtime": "-1"}),
    ("finish", "", {"exit_status": "0", "runtime": "soon"}),
    ("finish", "", {"runtime": "1"}),
    ("finish", "", {"exit_status": "0", "runtime": "1", "timed_out": "maybe"}),
]


@pytest.mark.parametrize(("kind", "query", "body"), MALFORMED)
def test_malformed_uploads_are_400_and_store_nothing(settings, kind, query, body):
    settings.METADATA_MAX_OUTPUT = 10
    machine, script_set, (result, _b), key = running_job()
    before = result_row(result)
    url = API + f"results/{result.pk}/{kind}/{query}"
    client = machine_client(machine, key)
    if isinstance(body, bytes):
        response = client.post(url, data=body, content_type="application/octet-stream")
    else:
        response = client.post(url, body)
    assert response.status_code == 400, response.content
    assert result_row(result) == before
    script_set.refresh_from_db()
    assert script_set.last_ping is None
    assert not Event.objects.filter(machine=machine).exists()


def test_output_at_the_limit_is_accepted(settings):
    settings.METADATA_MAX_OUTPUT = 10
    machine, _set, (result, _b), key = running_job()
    url = API + f"results/{result.pk}/output/?stream=stdout"
    response = machine_client(machine, key).post(url, data=b"x" * 10,
                                                 content_type="application/octet-stream")
    assert response.status_code == 200
    assert result_row(result)["stdout"] == b"x" * 10


def test_outputs_beyond_django_s_memory_limit_are_accepted(settings):
    """The default limit (4 MiB) is above Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)."""
    machine, _set, (result, _b), key = running_job()
    data = b"y" * (3 * 1024 * 1024)
    response = machine_client(machine, key).post(
        API + f"results/{result.pk}/output/?stream=combined", data=data,
        content_type="application/octet-stream")
    assert response.status_code == 200
    assert result_row(result)["output"] == data


def test_a_finished_result_cannot_be_started_or_finished_again():
    machine, _set, (result, _b), key = running_job()
    client = machine_client(machine, key)
    finish = API + f"results/{result.pk}/finish/"
    assert client.post(finish, {"exit_status": 0, "runtime": 1}).status_code == 200
    before = result_row(result)
    assert client.post(finish, {"exit_status": 1, "runtime": 2}).status_code == 400
    assert client.post(API + f"results/{result.pk}/start/").status_code == 400
    assert result_row(result) == before


def test_heartbeat_sets_last_ping():
    machine, script_set, _results, key = running_job()
    response = machine_client(machine, key).post(API + "heartbeat/")
    assert response.status_code == 204
    script_set.refresh_from_db()
    assert script_set.last_ping is not None


def test_heartbeat_of_the_erase_job_pushes_the_disk_erasing_deadline(settings):
    settings.MACHINE_STATUS_TIMEOUT = 1800
    soon = timezone.now() + timedelta(seconds=5)
    machine = MachineFactory(status=NodeStatus.DISK_ERASING, status_expires=soon)
    key = token_issue(machine, "erase", {"mode": "full", "secure_fallback": "full"}).key
    response = machine_client(machine, key).post(API + "heartbeat/")
    assert response.status_code == 204
    machine.refresh_from_db()
    assert machine.status_expires > soon + timedelta(seconds=1700)


def test_heartbeat_without_a_job_is_400_and_changes_nothing():
    machine = MachineFactory(status=NodeStatus.DEPLOYED)
    key = token_issue(machine, "rescue").key
    response = machine_client(machine, key).post(API + "heartbeat/")
    assert response.status_code == 400
    assert "No job is running" in str(response.json())
    machine.refresh_from_db()
    assert machine.status_expires is None


def test_hello_from_a_machine_without_a_job_is_found_by_mac_from_its_leased_address():
    machine = MachineFactory()
    InterfaceFactory(machine=machine, mac_address="52:54:00:aa:bb:cc")
    client = APIClient(REMOTE_ADDR=machine_lease(machine))
    response = client.post(API + "hello/", {"mac": "52:54:00:AA:BB:CC", "ip": "10.0.0.9"})
    assert response.status_code == 200
    event = Event.objects.get(machine=machine, type="hello")
    assert "10.0.0.9" in event.description and "52:54:00:aa:bb:cc" in event.description
    assert client.post(API + "hello/", {"ip": "10.0.0.9"}).status_code == 401
    assert client.post(API + "hello/", {"mac": "52:54:00:aa:bb:cc", "ip": "x"}).status_code \
        == 400
    assert Event.objects.filter(type="hello").count() == 1


@pytest.mark.parametrize("mac", ["52:54:00:aa:bb:cc", "52:54:00:00:00:01"])
def test_hello_without_proof_is_401_and_tells_nothing(mac):
    """From an address not leased to the MAC: 401 alike for a registered MAC and an unknown one
    (hello does not reveal which MACs exist), and no event is written."""
    machine = MachineFactory()
    InterfaceFactory(machine=machine, mac_address="52:54:00:aa:bb:cc")
    machine_lease(machine)
    response = APIClient(REMOTE_ADDR="10.66.0.1").post(API + "hello/", {"mac": mac,
                                                                        "ip": "10.0.0.9"})
    assert response.status_code == 401, response.content
    assert not Event.objects.filter(type="hello").exists()


def test_a_token_from_a_boot_config_is_401_from_another_address():
    machine, _set, _results, key = running_job()
    assert machine_client(machine, key).get(API + "job/").status_code == 200
    stolen = machine_client(machine, key, REMOTE_ADDR="10.66.0.1").get(API + "job/")
    assert stolen.status_code == 401 and "not valid from 10.66.0.1" in stolen.json()["detail"]


def test_hello_with_a_token_names_its_machine():
    machine, _set, _results, key = running_job()
    response = machine_client(machine, key).post(API + "hello/", {"ip": "10.0.0.5"})
    assert response.status_code == 200
    assert Event.objects.filter(machine=machine, type="hello").exists()
