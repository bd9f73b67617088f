"""machines/ and machines/{id}/: MAAS shapes and types, filters, create, allocate, the
lifecycle ops through the same services as /api/v1/, and MAAS's error codes."""
import json

import pytest
from django.test import Client

from nodes.choices import NodeStatus
from nodes.models import Event, Interface, Machine
from tests.factories import (
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    TagFactory,
    UserFactory,
)
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import Zone

pytestmark = pytest.mark.django_db


def test_the_list_has_every_machine_with_go_compatible_types(maas_admin):
    machine = MachineFactory(status=NodeStatus.READY, tags=[TagFactory(name="gpu")])
    InterfaceFactory(machine=machine, mac_address="52:54:00:00:00:01")
    MachineFactory.create_batch(3)
    listed = maas_admin.get(API + "machines/")
    assert listed.status_code == 200 and listed["Content-Type"] == "application/json"
    body = listed.json()
    assert len(body) == 4
    found = next(m for m in body if m["system_id"] == machine.system_id)
    assert (found["status"], found["status_name"]) == (4, "Ready")
    assert found["tag_names"] == ["gpu"] and found["owner"] is None
    assert isinstance(found["cpu_count"], int) and isinstance(found["memory"], int)
    assert set(found["zone"]) == {"id", "name", "description", "resource_uri"}
    assert found["boot_interface"]["mac_address"] == "52:54:00:00:00:01"
    assert found["resource_uri"] == API + f"machines/{machine.system_id}/"
    assert all(isinstance(v, str) for v in found["hardware_info"].values())


def test_filters(maas_admin):
    zone = Zone.objects.create(name="row-2")
    wanted = MachineFactory(status=NodeStatus.DEPLOYED, zone=zone, hostname="db-1")
    MachineFactory(status=NodeStatus.READY, zone=zone)
    MachineFactory(status=NodeStatus.DEPLOYED)
    got = maas_admin.get(API + "machines/", {"zone": "row-2", "status": "deployed"}).json()
    assert [m["system_id"] for m in got] == [wanted.system_id]
    assert [m["hostname"] for m in maas_admin.get(API + "machines/",
                                                    {"hostname": "db-1"}).json()] == ["db-1"]
    bad = maas_admin.get(API + "machines/", {"status": "sleeping"})
    assert bad.status_code == 400 and "status" in bad.json()


def test_users_see_free_machines_and_their_own(maas_user):
    own = MachineFactory(status=NodeStatus.ALLOCATED, owner=maas_user.user)
    free = MachineFactory(status=NodeStatus.READY)
    other = MachineFactory(status=NodeStatus.ALLOCATED, owner=UserFactory())
    seen = {m["system_id"] for m in maas_user.get(API + "machines/").json()}
    assert seen == {own.system_id, free.system_id}
    assert maas_user.get(API + f"machines/{other.system_id}/").status_code == 404
    response = maas_user.post(API + f"machines/{other.system_id}/?op=release")
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == NodeStatus.ALLOCATED


def test_create_as_gomaasclient_sends_it_and_commission_at_once(maas_admin, power_requests):
    body = ("architecture=amd64%2Fgeneric&mac_addresses=52%3A54%3A00%3Aaa%3Abb%3A01"
            "&hostname=node-1&power_type=ipmi&power_parameters_power_address=10.0.0.9"
            "&power_parameters_power_user=admin&power_parameters_power_pass=s3cr3t"
            "&commission=true")
    response = maas_admin.post(API + "machines/?op=", body,
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    machine = response.json()
    assert (machine["hostname"], machine["status_name"]) == ("node-1", "Commissioning")
    assert "s3cr3t" not in response.content.decode()
    params = maas_admin.get(API + f"machines/{machine['system_id']}/",
                            {"op": "power_parameters"}).json()
    assert params["power_address"] == "10.0.0.9" and "power_pass" not in params


def test_create_with_libmaas_json_power_parameters_and_no_commission(maas_admin):
    response = maas_admin.post(API + "machines/", {
        "architecture": "amd64/generic", "mac_addresses": ["52:54:00:aa:bb:02"],
        "power_type": "fake", "power_parameters": json.dumps({"fake_id": "f1"}),
        "commission": "false"})
    assert response.status_code == 200, response.content
    assert response.json()["status_name"] == "New"


@pytest.mark.parametrize(("fields", "bad"), [
    ({"mac_addresses": ["ff:ff:ff:ff:ff:ff"], "architecture": "amd64/generic"},
     "mac_addresses"),
    ({"mac_addresses": ["52:54:00:aa:bb:03"], "architecture": "../etc"}, "architecture"),
    ({"mac_addresses": ["52:54:00:aa:bb:04"], "architecture": "amd64/generic",
      "power_type": "ipmi", "power_parameters": "{not json"}, "power_parameters"),
    ({"architecture": "amd64/generic"}, "mac_addresses"),
])
def test_bad_input_is_400_by_field_and_nothing_is_saved(maas_admin, fields, bad):
    response = maas_admin.post(API + "machines/", {**fields, "commission": "false"})
    assert response.status_code == 400
    assert bad in response.json()
    assert not Machine.objects.exists() and not Interface.objects.exists()


def test_allocate_by_constraints_and_409_without_retry_after_when_none_matches(maas_user):
    MachineFactory(status=NodeStatus.READY, cpu_count=2, hostname="small")
    big = MachineFactory(status=NodeStatus.READY, cpu_count=16, hostname="big")
    response = maas_user.post(API + "machines/?op=allocate", {"cpu_count": "8"})
    assert response.status_code == 200
    assert (response.json()["system_id"], response.json()["status_name"],
            response.json()["owner"]) == (big.system_id, "Allocated", maas_user.user.username)
    none = maas_user.post(API + "machines/?op=allocate", {"cpu_count": "64"})
    assert none.status_code == 409 and "Retry-After" not in none
    unknown = maas_user.post(API + "machines/?op=allocate", {"zone": "no-such-zone"})
    assert unknown.status_code == 400 and "zone" in unknown.json()


def test_deploy_and_release_are_visible_in_the_reply(maas_user, power_requests):
    deployable_resource(series="noble")
    machine = MachineFactory(status=NodeStatus.READY, power_type="fake")
    deployed = maas_user.post(API + f"machines/{machine.system_id}/?op=deploy",
                              {"distro_series": "noble", "user_data": "I2Nsb3VkLWNvbmZpZwo="})
    assert deployed.status_code == 200, deployed.content
    assert (deployed.json()["status_name"], deployed.json()["distro_series"]) == (
        "Deploying", "noble")
    machine.refresh_from_db()
    assert machine.user_data == "#cloud-config\n"
    wrong = maas_user.post(API + f"machines/{machine.system_id}/?op=deploy")
    assert wrong.status_code == 409 and "Retry-After" not in wrong
    busy = maas_user.post(API + "machines/?op=release", {"machines": machine.system_id})
    assert busy.status_code == 409  # Deploying cannot be released: abort first
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    released = maas_user.post(API + "machines/?op=release", {"machines": machine.system_id,
                                                              "comment": "Released by Terraform"})
    assert released.json() == [machine.system_id]
    assert maas_user.get(API + f"machines/{machine.system_id}/").json()["status_name"] in (
        "Releasing", "Ready")


def test_power_ops_and_broken_fixed(maas_admin, maas_user, power_requests):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=maas_user.user,
                             power_type="fake", power_state="on")
    url = API + f"machines/{machine.system_id}/"
    assert maas_user.get(url, {"op": "query_power_state"}).json() == {"state": "on"}
    assert maas_user.post(url + "?op=power_off").status_code == 200
    assert (machine.system_id, "off") in power_requests
    broken = maas_user.post(url + "?op=mark_broken", {"comment": "fan"})
    assert broken.json()["status_name"] == "Broken"
    assert maas_user.post(url + "?op=mark_fixed").status_code == 403
    never_commissioned = maas_admin.post(url + "?op=mark_fixed")
    assert never_commissioned.status_code == 409 and "Retry-After" not in never_commissioned
    assert Event.objects.filter(machine=machine, type="mark-broken").exists()


def test_update_and_delete_as_terraform_does(maas_admin):
    machine = MachineFactory()
    Zone.objects.create(name="z2")
    url = API + f"machines/{machine.system_id}/"
    updated = maas_admin.put(url, "hostname=renamed&zone=z2&commission=true&domain=maas",
                             content_type="application/x-www-form-urlencoded")
    assert updated.status_code == 200, updated.content
    assert (updated.json()["hostname"], updated.json()["zone"]["name"]) == ("renamed", "z2")
    assert maas_admin.put(url, "zone=nowhere",
                          content_type="application/x-www-form-urlencoded").status_code == 400
    assert maas_admin.delete(url).status_code == 204
    assert not Machine.objects.filter(pk=machine.pk).exists()


def test_every_machine_endpoint_wants_a_key():
    machine = MachineFactory()
    for method, path in (("get", "machines/"), ("get", f"machines/{machine.system_id}/"),
                         ("post", "machines/?op=allocate"),
                         ("post", f"machines/{machine.system_id}/?op=deploy")):
        assert getattr(Client(), method)(API + path).status_code == 401


def test_interfaces_link_static_and_default_gateway_and_409_once_deployed(maas_admin):
    machine = MachineFactory(status=NodeStatus.READY)
    interface = InterfaceFactory(machine=machine, mac_address="52:54:00:7f:00:20")
    subnet = SubnetFactory(cidr="10.78.0.0/24", gateway_ip="10.78.0.1")
    url = API + f"nodes/{machine.system_id}/interfaces/{interface.id}/"
    bad = maas_admin.post(url + "?op=link_subnet", {"mode": "STATIC", "subnet": subnet.id,
                                                    "ip_address": "10.99.0.5"})
    assert bad.status_code == 400
    linked = maas_admin.post(url + "?op=link_subnet", {
        "mode": "STATIC", "subnet": "10.78.0.0/24", "ip_address": "10.78.0.50",
        "default_gateway": "true"})
    assert linked.status_code == 200, linked.content
    [link] = linked.json()["links"]
    assert (link["mode"], link["ip_address"]) == ("static", "10.78.0.50")
    read = maas_admin.get(API + f"machines/{machine.system_id}/").json()
    assert read["default_gateways"]["ipv4"] == {"gateway_ip": "10.78.0.1", "link_id": link["id"]}
    assert read["ip_addresses"] == ["10.78.0.50"]
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    refused = maas_admin.post(url + "?op=unlink_subnet", {"id": link["id"]})
    assert refused.status_code == 409 and "Retry-After" not in refused
    assert maas_admin.get(API + f"nodes/{machine.system_id}/interfaces/").json()[0][
        "links"][0]["ip_address"] == "10.78.0.50"


def test_release_erases_by_configuration_or_by_quick_erase(maas_admin, maas_user, power_requests):
    owned = [MachineFactory(status=NodeStatus.DEPLOYED, owner=maas_user.user, power_type="fake")
             for _ in range(3)]
    maas_user.post(API + f"machines/{owned[0].system_id}/?op=release", {"quick_erase": "true"})
    maas_admin.post(API + "maas/?op=set_config",
                    {"name": "enable_disk_erasing_on_release", "value": "true"})
    maas_user.post(API + f"machines/{owned[1].system_id}/?op=release")
    maas_user.post(API + f"machines/{owned[2].system_id}/?op=release", {"erase": "false"})
    statuses = [Machine.objects.get(pk=m.pk).status for m in owned]
    assert statuses == [NodeStatus.DISK_ERASING, NodeStatus.DISK_ERASING, NodeStatus.RELEASING]
    note = Event.objects.filter(machine=owned[0], type="release").values_list(
        "description", flat=True).first()
    assert note is not None and "erase (quick" in note


def resource_uris(value) -> set[str]:
    """Every resource_uri in a JSON value, at any depth."""
    if isinstance(value, dict):
        found = {value["resource_uri"]} if isinstance(value.get("resource_uri"), str) else set()
        return found.union(*(resource_uris(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(resource_uris(item) for item in value))
    return set()


def test_every_resource_uri_in_a_machine_object_answers(maas_admin):
    machine = MachineFactory(status=NodeStatus.READY, tags=[TagFactory(name="linked")])
    interface = InterfaceFactory(machine=machine, mac_address="52:54:00:7f:00:21")
    subnet = SubnetFactory(cidr="10.79.0.0/24")
    Interface.objects.filter(pk=interface.pk).update(vlan=subnet.vlan)
    maas_admin.post(API + f"nodes/{machine.system_id}/interfaces/{interface.id}/?op=link_subnet",
                    {"mode": "AUTO", "subnet": subnet.id})
    uris = resource_uris(maas_admin.get(API + f"machines/{machine.system_id}/").json())
    assert {"/vlans/", "/zones/", "/interfaces/", "/subnets/"} <= {
        part for uri in uris for part in ("/vlans/", "/zones/", "/interfaces/", "/subnets/")
        if part in uri}
    for uri in sorted(uris):
        assert uri.startswith("/MAAS/api/2.0/"), uri
        assert maas_admin.get(uri).status_code == 200, uri


def test_set_storage_layout_with_a_root_device_and_its_field_errors(maas_user):
    from nodes.storage_layouts import GIB  # noqa: PLC0415
    from tests.factories import BlockDeviceFactory  # noqa: PLC0415

    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=maas_user.user)
    BlockDeviceFactory(machine=machine, name="sda", size=GIB)
    sdb = BlockDeviceFactory(machine=machine, name="sdb", size=80 * GIB)
    url = API + f"machines/{machine.system_id}/?op=set_storage_layout"
    done = maas_user.post(url, {"storage_layout": "lvm", "root_device": str(sdb.pk)})
    assert done.status_code == 200, done.content
    assert done.json()["boot_disk"]["name"] == "sdb"
    bad = maas_user.post(url, {"storage_layout": "bcache"})
    assert bad.status_code == 400 and "storage_layout" in bad.json()
    small = maas_user.post(url, {"storage_layout": "flat", "root_device": "sda"})
    assert small.status_code == 400 and "boot_disk" in small.json()
    assert Machine.objects.get(pk=machine.pk).storage_layout == "lvm"
