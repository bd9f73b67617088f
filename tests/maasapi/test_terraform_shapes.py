"""The requests Terraform's MAAS provider (v2.4.0, through gomaasclient) makes, replayed as it
sends them: gomaasapi's OAuth header, urlencoded bodies, `op=` for create, power_parameters_*
fields, and what it reads back (maas-api.md section 8). The provider cannot be downloaded here."""
import base64

import pytest

from nodes.choices import NodeStatus
from nodes.models import Machine
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    make_api_key,
)
from tests.maasapi.conftest import API, MaasClient
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import ResourcePool, Zone

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def terraform():
    return MaasClient(make_api_key(AdminFactory()), style="gomaasapi")


def form(**fields) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, values in fields.items()
                      for v in (values if isinstance(values, list) else [values])])


def test_maas_machine_create_read_update_delete(terraform, power_requests):
    Zone.objects.create(name="tf-zone")
    ResourcePool.objects.create(name="tf-pool")
    create = terraform.post(API + "machines/?op=", form(
        commission="true", power_type="ipmi", mac_addresses="52:54:00:7f:00:01",
        architecture="amd64/generic", min_hwe_kernel="", hostname="tf-node", domain="maas",
        zone="tf-zone", pool="tf-pool", power_parameters_power_address="10.0.7.1",
        power_parameters_power_user="admin", power_parameters_power_pass="tf-secret"),
        content_type=FORM)
    assert create.status_code == 200, create.content
    machine = create.json()
    assert machine["status_name"] in ("Commissioning", "Testing")
    system_id = machine["system_id"]
    Machine.objects.filter(system_id=system_id).update(status=NodeStatus.READY)  # commissioned
    read = terraform.get(API + f"machines/{system_id}/").json()
    assert (read["architecture"], read["min_hwe_kernel"], read["hostname"]) == (
        "amd64/generic", "", "tf-node")
    assert (read["domain"]["name"], read["zone"]["name"], read["pool"]["name"]) == (
        "maas", "tf-zone", "tf-pool")
    assert [i["mac_address"] for i in read["interface_set"]] == ["52:54:00:7f:00:01"]
    update = terraform.put(API + f"machines/{system_id}/", form(
        commission="true", power_type="ipmi", architecture="amd64/generic", min_hwe_kernel="",
        hostname="tf-node-2", domain="maas", zone="tf-zone", pool="tf-pool",
        power_parameters_power_address="10.0.7.2", power_parameters_power_user="admin",
        power_parameters_power_pass="tf-secret"), content_type=FORM)
    assert update.status_code == 200, update.content
    assert update.json()["resource_uri"] == API + f"machines/{system_id}/"
    assert update.json()["hostname"] == "tf-node-2"
    assert "tf-secret" not in update.content.decode()
    assert terraform.delete(API + f"machines/{system_id}/").status_code == 204
    assert terraform.get(API + f"machines/{system_id}/").status_code == 404


def test_maas_instance_allocate_link_deploy_poll_release(terraform, power_requests):
    deployable_resource(series="jammy")
    zone = Zone.objects.create(name="tf-az")
    machine = MachineFactory(status=NodeStatus.READY, zone=zone, cpu_count=4, memory=8192,
                             power_type="fake")
    InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:7f:00:10")
    subnet = SubnetFactory(cidr="10.77.0.0/24", gateway_ip="10.77.0.1")
    allocated = terraform.post(API + "machines/?op=allocate", form(
        cpu_count="2", mem="4096", zone="tf-az", pool="default"), content_type=FORM)
    assert allocated.status_code == 200, allocated.content
    system_id = allocated.json()["system_id"]
    assert system_id == machine.system_id
    # network_interfaces { name = "eth0", subnet_cidr = "10.77.0.0/24" }: match, then relink.
    interfaces = terraform.get(API + f"nodes/{system_id}/interfaces/").json()
    eth0 = next(i for i in interfaces if i["name"] == "eth0")
    cidrs = {s["cidr"]: s["id"] for s in terraform.get(API + "subnets/").json()}
    url = API + f"nodes/{system_id}/interfaces/{eth0['id']}/"
    assert terraform.post(url + "?op=disconnect", "", content_type=FORM).json()["links"] == []
    linked = terraform.post(url + "?op=link_subnet", form(
        mode="AUTO", subnet=str(cidrs["10.77.0.0/24"])), content_type=FORM)
    assert linked.status_code == 200, linked.content
    [link] = linked.json()["links"]
    assert link["mode"] == "auto" and link["subnet"]["cidr"] == "10.77.0.0/24"
    assert "ip_address" not in link  # AUTO: assigned at deploy
    deploy = terraform.post(API + f"machines/{system_id}/?op=deploy", form(
        distro_series="jammy", hwe_kernel="", enable_hw_sync="false", ephemeral_deploy="false",
        user_data=base64.b64encode(b"#cloud-config\n").decode()), content_type=FORM)
    assert deploy.status_code == 200, deploy.content
    read = terraform.get(API + f"machines/{system_id}/").json()
    assert read["status_name"] == "Deploying"
    assert read["ip_addresses"] == ["10.77.0.2"]  # the lowest free address, after the gateway
    assert read["interface_set"][0]["links"][0]["ip_address"] == "10.77.0.2"
    for field in ("fqdn", "hostname", "tag_names", "cpu_count", "memory", "ip_addresses"):
        assert field in read
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)  # it booted
    release = terraform.post(API + "machines/?op=release", form(
        machines=system_id, comment="Released by Terraform"), content_type=FORM)
    assert release.status_code == 200 and release.json() == [system_id]
    # Terraform polls Releasing -> Ready and fails on Disk erasing: not erased by default.
    released = terraform.get(API + f"machines/{system_id}/").json()
    assert released["status_name"] in ("Releasing", "Ready")
    assert released["ip_addresses"] == [] or released["status_name"] == "Releasing"
    assert subnet.static_ips.count() <= 1
