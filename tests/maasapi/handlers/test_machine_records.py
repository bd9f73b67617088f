"""machines/{id}/ ops that read what jobs left: details (BSON, decoded by the independent
`bson` package python-libmaas uses), get_curtin_config (YAML), get_token; vlans/{id}/."""
import bson
import pytest
import yaml
from django.test import Client

from nodes.choices import NodeStatus
from nodes.services.tokens import token_issue
from tests.factories import (
    MachineFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    VLANFactory,
)
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import VLAN

pytestmark = pytest.mark.django_db


def test_details_are_the_newest_passed_commissioning_outputs_in_bson(maas_user):
    machine = MachineFactory()
    older = ScriptSetFactory(machine=machine)
    ScriptResultFactory(script_set=older, script_name="20-lldp", status="passed",
                        stdout=b"<lldp/>")
    ScriptResultFactory(script_set=older, script_name="10-cpu", status="passed", stdout=b"old")
    newer = ScriptSetFactory(machine=machine)
    ScriptResultFactory(script_set=newer, script_name="10-cpu", status="passed",
                        stdout=b"\x00\xffcpu")
    ScriptResultFactory(script_set=newer, script_name="30-disks", status="failed", stdout=b"x")
    testing = ScriptSetFactory(machine=machine, result_type="testing")
    ScriptResultFactory(script_set=testing, script_name="smartctl", status="passed",
                        stdout=b"t")
    answer = maas_user.get(API + f"machines/{machine.system_id}/?op=details")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/bson"
    assert bson.decode_all(answer.content) == [{"10-cpu": b"\x00\xffcpu",
                                                "20-lldp": b"<lldp/>"}]
    fresh = MachineFactory()
    assert bson.decode_all(
        maas_user.get(API + f"machines/{fresh.system_id}/?op=details").content) == [{}]


def test_bson_encodes_every_scalar_as_the_independent_decoder_reads_it():
    from maasapi.bson import encode
    document = {"s": "é", "b": b"\x00", "t": True, "f": False, "n": None, "i": -7,
                "big": 2**40}
    assert bson.decode_all(encode(document)) == [document]
    with pytest.raises(TypeError):
        encode({"x": 1.5})


def test_curtin_config_is_the_deployment_as_yaml_and_409_before(maas_user, power_requests):
    deployable_resource(series="noble")
    machine = MachineFactory(status=NodeStatus.READY, power_type="fake")
    before = maas_user.get(API + f"machines/{machine.system_id}/?op=get_curtin_config")
    assert before.status_code == 409 and "Retry-After" not in before
    assert "not in a deployment state" in before.content.decode()
    assert maas_user.post(API + f"machines/{machine.system_id}/?op=deploy",
                          {"distro_series": "noble"}).status_code == 200
    answer = maas_user.get(API + f"machines/{machine.system_id}/?op=get_curtin_config")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    config = yaml.safe_load(answer.content)
    assert config["system_id"] == machine.system_id
    assert config["image"]["series"] == "noble"
    assert {"sha256", "format", "path"} <= set(config["image"])
    assert "disk" in config


def test_get_token_is_the_running_jobs_credential_for_admins_only(maas_admin, maas_user):
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    path = API + f"machines/{machine.system_id}/?op=get_token"
    assert maas_admin.get(path).status_code == 404  # no job, no token
    token = token_issue(machine, "commissioning")
    answer = maas_admin.get(path)
    assert answer.status_code == 200
    assert answer.json() == {"consumer_key": machine.system_id, "token_key": token.key,
                             "token_secret": "", "purpose": "commissioning"}
    assert maas_user.get(path).status_code == 403
    assert token.key not in maas_user.get(path).content.decode()


def test_vlans_by_id_reads_updates_and_deletes_as_the_fabric_path(maas_admin, maas_user):
    vlan = VLANFactory(vid=42, name="storage")
    by_id = API + f"vlans/{vlan.id}/"
    read = maas_user.get(by_id)
    assert read.status_code == 200
    assert read.json() == maas_user.get(
        API + f"fabrics/{vlan.fabric_id}/vlans/42/").json()
    assert read.json()["resource_uri"] == API + f"fabrics/{vlan.fabric_id}/vlans/42/"
    assert maas_user.put(by_id, "name=x", content_type="application/x-www-form-urlencoded"
                         ).status_code == 403
    updated = maas_admin.put(by_id, "mtu=9000",
                             content_type="application/x-www-form-urlencoded")
    assert (updated.status_code, updated.json()["mtu"]) == (200, 9000), updated.content
    bad = maas_admin.put(by_id, "mtu=12", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400 and "mtu" in bad.json()
    assert VLAN.objects.get(pk=vlan.pk).mtu == 9000
    assert maas_admin.get(API + "vlans/999999/").status_code == 404
    assert maas_admin.delete(by_id).status_code == 204
    assert not VLAN.objects.filter(pk=vlan.pk).exists()
    assert Client().get(by_id).status_code == 401
