"""Metadata API of deploy: the deploy runner as the job, user-data/, deployed/, public-keys/."""

import pytest
import yaml
from rest_framework.test import APIClient

from nodes.choices import NodeStatus
from nodes.models import SSHKey
from nodes.services.actions import machine_deploy
from nodes.services.lifecycle import machine_finish
from nodes.services.tokens import token_active, token_issue, token_revoke
from tests.factories import MachineFactory, UserFactory
from tests.nodes.api.metadata_helpers import API, machine_client
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db
USER_DATA = "#!/bin/sh\necho MARKER-42\n"
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXmUkN7lJQzlP6pEfI5bbPqk4kU1dTtTf3vQ5wCk9Vb "
       "me@laptop")


@pytest.fixture
def deploying():
    """(machine, its token key): deployed by its owner with USER_DATA."""
    deployable_resource()
    machine = MachineFactory(status=NodeStatus.READY)
    machine_deploy(machine.system_id, UserFactory(), user_data=USER_DATA)
    machine.refresh_from_db()
    return machine, token_active(machine).key


def test_the_job_of_a_deploying_machine_is_the_deploy_runner(deploying):
    machine, key = deploying
    client = machine_client(machine, key)
    spec = client.get(API + "job/", HTTP_ACCEPT="application/json").json()
    assert spec["job"] == "deployment" and spec["disk"] == ""
    assert spec["image"]["path"] == "images/deployable/amd64/generic/1/root.img.gz"
    assert [s["name"] for s in spec["scripts"]] == ["write-image"]
    runner = client.get(API + "job/").content.decode()
    assert runner.startswith("#!/bin/sh\n") and "metal deploy runner" in runner
    assert f'IMAGE_PATH="{spec["image"]["path"]}"' in runner
    assert f'SHA256="{spec["image"]["sha256"]}"' in runner
    assert f"RESULT={spec['scripts'][0]['id']}\n" in runner
    assert key not in runner


def test_user_data_is_served_as_text(deploying):
    machine, key = deploying
    response = machine_client(machine, key).get(API + "user-data/")
    assert (response.status_code, response.content.decode()) == (200, USER_DATA)
    assert response["Content-Type"].startswith("text/plain")
    assert machine.events.filter(type="user_data_fetched").exists()


def test_no_user_data_or_not_deploying_is_404(deploying):
    machine, key = deploying
    machine.__class__.objects.filter(pk=machine.pk).update(user_data="")
    assert machine_client(machine, key).get(API + "user-data/").status_code == 404
    machine.__class__.objects.filter(pk=machine.pk).update(status=NodeStatus.ALLOCATED)
    assert machine_client(machine, key).get(API + "user-data/").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", "user-data/"), ("post", "deployed/"),
                                              ("get", "public-keys/"), ("get", "cloud-config/")])
def test_other_machines_tokens_and_revoked_tokens_are_401(deploying, method, path):
    machine, key = deploying
    other = MachineFactory(status=NodeStatus.DEPLOYING)
    foreign = token_issue(other, "deployment").key
    # Another machine's id with this token, and this machine's id with another machine's token.
    for client in (machine_client(other, key), machine_client(machine, foreign)):
        response = getattr(client, method)(API + path)
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"].startswith("Machine")
    token_revoke(machine)
    assert getattr(machine_client(machine, key), method)(API + path).status_code == 401
    assert getattr(APIClient(), method)(API + path).status_code == 401


def test_deployed_report_ends_the_deployment_and_the_token(deploying):
    machine, key = deploying
    client = machine_client(machine, key)
    response = client.post(API + "deployed/", "message=deployed%20OS%20booted&user_data_exit=0"
                           "&user_data_output=%4d%41%52%4b%45%52%2d%34%32%0a",
                           content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.content) == (200, b"ok\n")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYED and token_active(machine) is None
    assert machine.events.get(type="user_data_output").description == "MARKER-42\n"
    assert "deployed OS booted; user data exit 0" in machine.events.get(type="deployed").description
    assert client.post(API + "deployed/").status_code == 401  # revoked with the job


def test_malformed_deployed_report_is_400_and_changes_nothing(deploying):
    machine, key = deploying
    response = machine_client(machine, key).post(API + "deployed/", {"user_data_exit": "x"})
    assert response.status_code == 400 and "user_data_exit" in response.json()
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYING


def test_deployed_report_of_a_machine_not_deploying_is_400(deploying):
    machine, key = deploying
    machine.__class__.objects.filter(pk=machine.pk).update(status=NodeStatus.ALLOCATED)
    response = machine_client(machine, key).post(API + "deployed/")
    assert response.status_code == 400 and "not Deploying" in response.json()["detail"]


def test_public_keys_are_the_owners_one_per_line(deploying):
    machine, key = deploying
    client = machine_client(machine, key)
    assert client.get(API + "public-keys/").content == b""
    SSHKey.objects.create(user=machine.owner, key=KEY)
    SSHKey.objects.create(user=UserFactory(), key=KEY)  # someone else's
    response = client.get(API + "public-keys/")
    assert (response.status_code, response.content.decode()) == (200, KEY + "\n")


def test_cloud_config_names_the_metadata_service_and_the_os_credential(deploying, settings):
    """The runner writes it into the deployed OS: cloud-init's MAAS datasource and reporter at
    the region, with the deployed OS's own credential (not the job's token)."""
    settings.REGION_URL = "http://region.example:5240/"
    machine, key = deploying
    response = machine_client(machine, key).get(API + "cloud-config/")
    assert response.status_code == 200, response.content
    document = yaml.safe_load(response.content)
    maas = document["datasource"]["MAAS"]
    assert document["datasource_list"] == ["MAAS"]
    # ds-identify's line parser finds the one datasource (else the generator disables cloud-init).
    assert response.content.decode().startswith("datasource_list: [MAAS]\n")
    assert maas["metadata_url"] == "http://region.example:5240/MAAS/metadata/"
    assert maas["consumer_key"] == machine.system_id and maas["token_secret"] != key
    assert document["reporting"]["maas"]["endpoint"] == (
        f"http://region.example:5240/MAAS/metadata/status/{machine.system_id}")
    assert document["network"]["version"] == 1
    machine_finish(machine.system_id, success=True)
    assert machine_client(machine, key).get(API + "cloud-config/").status_code == 401
