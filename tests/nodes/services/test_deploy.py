"""Deploy: the image chosen at deploy time, the deployment job, its end, the deployed report."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus, ResultType, ScriptStatus
from nodes.models import Event, MachineToken, ScriptResult, ScriptSet
from nodes.selectors.boot import machine_action
from nodes.services import deploy
from nodes.services.actions import machine_abort, machine_deploy, machine_release
from nodes.services.metadata import heartbeat_sweep, job_report
from nodes.services.tokens import (
    OS_PURPOSE,
    TokenInvalid,
    os_credentials,
    os_token_authenticate,
    token_active,
    token_authenticate,
)
from tests.factories import BlockDeviceFactory, MachineFactory, UserFactory
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db


def deploying(**kwargs):
    """A machine deployed by a user: (machine, its deployment script set)."""
    machine = MachineFactory(status=NodeStatus.READY)
    machine_deploy(machine.system_id, UserFactory(), **kwargs)
    machine.refresh_from_db()
    return machine, ScriptSet.objects.get(machine=machine, result_type=ResultType.DEPLOYMENT)


# --- choosing the image ---------------------------------------------------------------------

def test_default_is_the_newest_deployable_image_gz_before_raw():
    deployable_resource(series="old")
    newest = deployable_resource(series="new", image_formats=("raw", "gz", "zst"))
    image = deploy.deploy_image_choose("", "", "amd64/generic")
    assert (image["resource"], image["format"]) == (newest.name, "gz")
    gz = newest.files.get(format="gz")
    assert (image["path"], image["sha256"], image["size"]) == (gz.path, gz.sha256, gz.size)


def test_a_named_release_is_chosen_over_newer_ones():
    named = deployable_resource(os="custom", series="a", image_formats=("raw",))
    deployable_resource(series="newer")
    image = deploy.deploy_image_choose("custom", "a", "amd64/generic")
    assert (image["resource"], image["format"], image["os"]) == (named.name, "raw", "custom")


def test_other_architectures_are_not_chosen():
    deployable_resource(architecture="arm64/generic")
    with pytest.raises(ValidationError, match="No deployable image for any OS"):
        deploy.deploy_image_choose("", "", "amd64/generic")


@pytest.mark.parametrize(("image_formats", "chosen"), [
    (("raw", "zst"), "zst"), (("raw", "tgz"), "raw"), (("zst",), "zst"), (("tgz",), "tgz"),
])
def test_every_format_can_be_deployed_compressed_images_first(image_formats, chosen):
    resource = deployable_resource(image_formats=image_formats)
    machine, script_set = deploying()
    assert script_set.options["image"]["format"] == chosen
    assert script_set.options["image"]["resource"] == resource.name
    assert machine.status == NodeStatus.DEPLOYING


def test_a_resource_without_a_root_image_is_refused_at_deploy():
    deployable_resource(image_formats=())
    machine = MachineFactory(status=NodeStatus.READY)
    with pytest.raises(ValidationError) as caught:
        machine_deploy(machine.system_id, UserFactory())
    assert "has no root image or root tarball" in caught.value.message_dict["osystem"][0]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and token_active(machine) is None
    assert not ScriptSet.objects.filter(machine=machine).exists()


def test_deploy_without_any_image_says_how_to_get_one():
    machine = MachineFactory(status=NodeStatus.READY)
    with pytest.raises(ValidationError, match="build_test_os"):
        machine_deploy(machine.system_id, UserFactory(), osystem="nope")


def test_deploy_through_the_api_answers_400_naming_the_problem(admin_client):
    deployable_resource(image_formats=())
    machine = MachineFactory(status=NodeStatus.READY)
    response = admin_client.post(f"/api/v1/machines/{machine.system_id}/deploy/")
    assert response.status_code == 400
    assert "has no root image" in response.json()["osystem"][0]


# --- the job ---------------------------------------------------------------------------------

def test_deploy_starts_a_deployment_job_with_image_disk_and_token():
    resource = deployable_resource()
    machine, script_set = deploying(user_data="#!/bin/sh\necho hi\n")
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, True)
    assert (machine.osystem, machine.distro_series) == (resource.os, resource.series)
    assert machine.status_expires is not None
    assert script_set.options["image"]["resource"] == resource.name
    assert script_set.options["disk"] == ""  # no inventory: the runner picks the first disk
    assert [r.script_name for r in script_set.results.all()] == [deploy.WRITE_IMAGE]
    assert token_active(machine).purpose == ResultType.DEPLOYMENT
    assert Event.objects.filter(machine=machine, type="deploy_job").exists()
    assert machine_action(machine) == "deploy"


def test_the_boot_disk_is_the_first_of_the_inventory():
    machine = MachineFactory()
    BlockDeviceFactory(machine=machine, name="sdb")
    BlockDeviceFactory(machine=machine, name="sda")
    assert deploy.boot_disk(machine) == "/dev/sda"
    assert deploy.boot_disk(MachineFactory()) == ""


def test_image_written_turns_netboot_off_and_keeps_the_token(django_capture_on_commit_callbacks):
    deployable_resource()
    machine, script_set = deploying()
    ScriptResult.objects.filter(script_set=script_set).update(status=ScriptStatus.PASSED,
                                                              exit_status=0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert job_report(machine, ok=True) is False  # the runner reboots
    assert callbacks == []  # no power action from the region
    machine.refresh_from_db()
    assert (machine.status, machine.netboot) == (NodeStatus.DEPLOYING, False)
    assert machine_action(machine) == "local"
    assert token_active(machine) is not None
    script_set.refresh_from_db()
    assert script_set.finished is not None
    written = Event.objects.get(machine=machine, type="deploy_image_written")
    assert "written to the first disk; netboot off" in written.description


def test_runner_failure_is_failed_deployment_with_reason_and_output(power_requests):
    deployable_resource()
    machine, script_set = deploying()
    ScriptResult.objects.filter(script_set=script_set).update(
        status=ScriptStatus.FAILED, exit_status=1, output=b"metal: pass 1: downloading\n")
    before = len(power_requests)  # the deploy's power on
    assert job_report(machine, ok=False, message="sha256 checksum mismatch") is True
    assert power_requests[before:] == [(machine.system_id, "off")]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert machine.error_description == "deployment failed: sha256 checksum mismatch"
    assert token_active(machine) is None
    event = Event.objects.get(machine=machine, type="job_finished")
    assert event.level == EventLevel.ERROR and "metal: pass 1: downloading" in event.description


def test_abort_ends_the_deployment_job():
    deployable_resource()
    machine, script_set = deploying()
    machine_abort(machine.system_id, machine.owner)
    machine.refresh_from_db()
    script_set.refresh_from_db()
    assert machine.status == NodeStatus.ALLOCATED and token_active(machine) is None
    assert script_set.finished is not None


def test_a_silent_deploy_runner_fails_in_the_heartbeat_sweep(settings):
    deployable_resource()
    machine, script_set = deploying()
    ScriptSet.objects.filter(pk=script_set.pk).update(
        last_ping=timezone.now() - timedelta(seconds=settings.METADATA_HEARTBEAT_TIMEOUT + 5))
    assert heartbeat_sweep() == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DEPLOYMENT
    assert machine.error_description.startswith("runner silent since")


# --- the deployed OS -------------------------------------------------------------------------

def test_deployed_report_makes_the_machine_deployed_and_revokes_the_token():
    deployable_resource()
    machine, _set = deploying(user_data="#!/bin/sh\necho MARKER-1\n")
    assert deploy.user_data_fetch(machine) == "#!/bin/sh\necho MARKER-1\n"
    deploy.deployed_report(machine, message="deployed OS booted", user_data_exit=0,
                           user_data_output="MARKER-1\n")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DEPLOYED and machine.status_expires is None
    assert token_active(machine) is None
    types = list(Event.objects.filter(machine=machine).values_list("type", flat=True))
    assert {"user_data_fetched", "deployed", "user_data_output", "status_succeeded"} <= set(types)
    assert Event.objects.get(machine=machine, type="user_data_output").description == "MARKER-1\n"
    with pytest.raises(deploy.DeployError, match="is Deployed, not Deploying"):
        deploy.deployed_report(machine)


def test_the_deployed_os_credential_lives_from_deploy_to_release():
    """Deploy issues the OS's own credential (cloud-init's MAAS datasource); ending the deploy
    job leaves it, the ephemeral metadata API refuses it, and release revokes it."""
    deployable_resource()
    machine, _set = deploying()
    credential = MachineToken.objects.get(machine=machine, purpose=OS_PURPOSE, revoked=None)
    key = os_credentials(credential)
    assert key["consumer_key"] == machine.system_id and key["token_key"] == credential.nonce
    deploy.deployed_report(machine)
    assert os_token_authenticate(key["consumer_key"], key["token_key"], key["token_secret"])
    with pytest.raises(TokenInvalid):
        token_authenticate(machine.system_id, key["token_secret"], "10.0.0.1")
    machine_release(machine.system_id, machine.owner, erase=False)
    with pytest.raises(TokenInvalid):
        os_token_authenticate(key["consumer_key"], key["token_key"], key["token_secret"])
    assert not MachineToken.objects.filter(machine=machine, revoked=None).exists()
