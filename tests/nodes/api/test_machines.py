"""Machines API: CRUD, visibility, permissions, validation, filters, nested parts."""
import pytest

from nodes.choices import NodeStatus as S
from nodes.models import Event, Interface, Machine
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    ResourcePoolFactory,
    TagFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/machines/"

MAAS_FIELDS = {"system_id", "hostname", "status", "status_name", "power_state", "zone", "pool",
               "cpu_count", "memory", "architecture", "osystem", "distro_series", "tag_names",
               "owner", "interface_set", "blockdevice_set", "locked", "netboot"}


def test_list_has_maas_fields_and_pages(admin_client):
    MachineFactory.create_batch(3)
    response = admin_client.get(URL, {"limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert MAAS_FIELDS <= set(body["results"][0])
    assert body["results"][0]["zone"]["name"] == "default"


def test_create_with_macs_tags_zone_pool(admin_client):
    tag, zone, pool = TagFactory(name="ssd"), ZoneFactory(name="az1"), ResourcePoolFactory()
    response = admin_client.post(URL, {
        "hostname": "node-1", "architecture": "amd64/generic", "cpu_count": 8, "memory": 16384,
        "mac_addresses": ["52-54-00-AA-BB-01"], "tag_names": [tag.name], "zone": zone.name,
        "pool": pool.name, "power_type": "manual",
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status_name"] == "New" and body["tag_names"] == ["ssd"]
    assert body["zone"]["name"] == "az1" and body["pool"]["name"] == pool.name
    assert body["interface_set"][0]["mac_address"] == "52:54:00:aa:bb:01"
    assert len(body["system_id"]) == 6
    assert Event.objects.filter(machine__system_id=body["system_id"], type="created").exists()


def test_create_generates_a_hostname(admin_client):
    response = admin_client.post(URL, {}, format="json")
    assert response.status_code == 201
    assert "-" in response.json()["hostname"]


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"hostname": "Bad_Name!"}, "hostname"),
        ({"hostname": "taken"}, "hostname"),
        ({"mac_addresses": ["not-a-mac"]}, "mac_addresses"),
        ({"mac_addresses": ["52:54:00:00:00:99"]}, "mac_addresses"),
        ({"mac_addresses": ["52:54:00:00:00:01", "52:54:00:00:00:01"]}, "mac_addresses"),
        ({"zone": "nowhere"}, "zone"),
        ({"pool": "nopool"}, "pool"),
        ({"tag_names": ["nope"]}, "tag_names"),
        ({"cpu_count": -1}, "cpu_count"),
        ({"memory": "lots"}, "memory"),
    ],
)
def test_create_bad_input_is_400_with_field_errors_and_saves_nothing(admin_client, payload, field):
    MachineFactory(hostname="taken")
    InterfaceFactory(mac_address="52:54:00:00:00:99")
    before = (Machine.objects.count(), Interface.objects.count(), Event.objects.count())
    body = {"hostname": "fresh", "mac_addresses": ["52:54:00:00:00:42"], **payload}
    response = admin_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert (Machine.objects.count(), Interface.objects.count(), Event.objects.count()) == before


def test_users_cannot_create_update_or_delete(user_client):
    machine = MachineFactory()
    assert user_client.post(URL, {"hostname": "x"}, format="json").status_code == 403
    assert user_client.patch(f"{URL}{machine.system_id}/", {"cpu_count": 1},
                             format="json").status_code == 403
    assert user_client.delete(f"{URL}{machine.system_id}/").status_code == 403
    assert Machine.objects.filter(hostname="x").count() == 0
    assert Machine.objects.get(pk=machine.pk).cpu_count == machine.cpu_count


def test_update_and_delete_as_admin(admin_client):
    machine = MachineFactory(hostname="old")
    TagFactory(name="gpu")
    response = admin_client.patch(f"{URL}{machine.system_id}/",
                                  {"hostname": "new", "tag_names": ["gpu"]}, format="json")
    assert response.status_code == 200 and response.json()["tag_names"] == ["gpu"]
    assert response.json()["hostname"] == "new"
    assert admin_client.delete(f"{URL}{machine.system_id}/").status_code == 204
    assert not Machine.objects.filter(pk=machine.pk).exists()
    assert Event.objects.filter(type="delete", hostname="new").exists()


def test_status_cannot_be_written_through_update(admin_client):
    machine = MachineFactory(status=S.NEW)
    admin_client.patch(f"{URL}{machine.system_id}/", {"status": S.DEPLOYED}, format="json")
    assert Machine.objects.get(pk=machine.pk).status == S.NEW


def test_power_parameters_are_write_only(admin_client):
    response = admin_client.post(URL, {"hostname": "bmc", "power_type": "ipmi",
                                       "power_parameters": {"power_address": "10.0.0.9",
                                                            "power_pass": "hunter2"}},
                                 format="json")
    assert response.status_code == 201
    detail = admin_client.get(f"{URL}{response.json()['system_id']}/")
    assert "hunter2" not in detail.content.decode()
    assert "power_parameters" not in detail.json()


def test_users_see_unowned_and_their_own_machines(user_client, user):
    mine = MachineFactory(owner=user, status=S.ALLOCATED)
    free = MachineFactory(status=S.READY)
    theirs = MachineFactory(owner=UserFactory(), status=S.ALLOCATED)
    listed = {m["system_id"] for m in user_client.get(URL).json()["results"]}
    assert listed == {mine.system_id, free.system_id}
    assert user_client.get(f"{URL}{theirs.system_id}/").status_code == 404


def test_owner_acts_on_own_machine_but_not_admin_actions(user_client, user):
    mine = MachineFactory(owner=user, status=S.DEPLOYED, power_type="manual")
    free = MachineFactory(status=S.NEW)
    assert user_client.post(f"{URL}{mine.system_id}/release/").status_code == 200
    response = user_client.post(f"{URL}{free.system_id}/commission/")
    assert response.status_code == 403
    assert Machine.objects.get(pk=free.pk).status == S.NEW


def test_action_parameters_are_validated(admin_client, admin):
    machine = MachineFactory(status=S.DEPLOYED, owner=admin)
    response = admin_client.post(f"{URL}{machine.system_id}/power-off/", {"stop_mode": "gentle"},
                                 format="json")
    assert response.status_code == 400 and "stop_mode" in response.json()
    response = admin_client.post(f"{URL}{machine.system_id}/set-zone/", {"zone": "nowhere"},
                                 format="json")
    assert response.status_code == 400 and "zone" in response.json()


@pytest.mark.parametrize("value", ["4", "ready", "Ready", "READY"])
def test_filter_by_status_code_or_name(admin_client, value):
    ready = MachineFactory(status=S.READY)
    MachineFactory(status=S.NEW)
    results = admin_client.get(URL, {"status": value}).json()["results"]
    assert [m["system_id"] for m in results] == [ready.system_id]


def test_filter_by_unknown_status_is_400(admin_client):
    response = admin_client.get(URL, {"status": "sleeping"})
    assert response.status_code == 400 and "status" in response.json()


def test_filters_zone_pool_owner_hostname_mac_tags(admin_client, user):
    zone, pool = ZoneFactory(name="z1"), ResourcePoolFactory(name="p1")
    a, b = TagFactory(name="a"), TagFactory(name="b")
    target = MachineFactory(hostname="target", zone=zone, pool=pool, owner=user, tags=[a, b])
    InterfaceFactory(machine=target, mac_address="52:54:00:00:0a:0a")
    MachineFactory(hostname="other", tags=[a])
    for params in ({"zone": "z1"}, {"pool": "p1"}, {"owner": user.username},
                   {"hostname": "TARGET"}, {"mac_address": "52-54-00-00-0A-0A"},
                   {"tags": "a,b"}):
        results = admin_client.get(URL, params).json()["results"]
        assert [m["hostname"] for m in results] == ["target"], params
    assert len(admin_client.get(URL, {"tags": "a"}).json()["results"]) == 2


def test_interfaces_and_block_devices(admin_client, user_client):
    machine = MachineFactory()
    BlockDeviceFactory(machine=machine, name="sda")
    url = f"{URL}{machine.system_id}/interfaces/"
    created = admin_client.post(url, {"name": "eth0", "mac_address": "52:54:00:12:34:56"},
                                format="json")
    assert created.status_code == 201
    assert admin_client.post(url, {"name": "eth1", "mac_address": "52:54:00:12:34:56"},
                             format="json").status_code == 400
    assert admin_client.post(url, {"name": "eth1", "mac_address": "zz"},
                             format="json").status_code == 400
    assert user_client.post(url, {"name": "eth2", "mac_address": "52:54:00:12:34:57"},
                            format="json").status_code == 403
    assert [i["name"] for i in user_client.get(url).json()] == ["eth0"]
    assert admin_client.delete(f"{url}{created.json()['id']}/").status_code == 204
    devices = admin_client.get(f"{URL}{machine.system_id}/block-devices/").json()
    assert [d["name"] for d in devices] == ["sda"]
    bad = admin_client.post(f"{URL}{machine.system_id}/block-devices/", {"name": "sdb", "size": 0},
                            format="json")
    assert bad.status_code == 400 and "size" in bad.json()


def test_unknown_machine_is_404(admin_client):
    assert admin_client.get(f"{URL}nope42/").status_code == 404
    assert admin_client.post(f"{URL}nope42/commission/").status_code == 404


def test_block_device_with_model_and_duplicate_names(admin_client):
    machine = MachineFactory()
    url = f"{URL}{machine.system_id}/block-devices/"
    disk = {"name": "sda", "size": 10**9, "model": "QEMU HARDDISK", "serial": "QM1"}
    created = admin_client.post(url, disk, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["model"] == "QEMU HARDDISK"
    duplicate = admin_client.post(url, {**disk, "serial": "QM2"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json(), duplicate.content
    assert machine.block_devices.count() == 1
    assert Event.objects.filter(machine=machine, type="block_device_added").count() == 1
    nic = {"name": "eth0", "mac_address": "52:54:00:12:34:56"}
    assert admin_client.post(f"{URL}{machine.system_id}/interfaces/", nic,
                             format="json").status_code == 201
    duplicate = admin_client.post(f"{URL}{machine.system_id}/interfaces/",
                                  {**nic, "mac_address": "52:54:00:12:34:57"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json(), duplicate.content
    assert machine.interfaces.count() == 1


@pytest.mark.parametrize(("power_type", "params", "field"), [
    ("ipmi", {"power_address": "10.0.0.9", "power_port": -1}, "power_port"),
    ("ipmi", {"power_address": "10.0.0.9", "power_port": 65536}, "power_port"),
    ("redfish", {"power_address": "bmc:0", "power_user": "u", "power_pass": "p"},
     "power_address"),
    ("redfish", {"power_address": "bmc:70000", "power_user": "u", "power_pass": "p"},
     "power_address"),
])
def test_power_ports_are_1_to_65535(admin_client, power_type, params, field):
    response = admin_client.post(URL, {"hostname": "h1", "power_type": power_type,
                                       "power_parameters": params}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["power_parameters"]
    assert not Machine.objects.filter(hostname="h1").exists()


def test_boot_interface_is_the_first_physical_one_even_beside_a_bond(admin_client):
    machine = MachineFactory()
    eth0 = InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:12:34:01")
    bond = InterfaceFactory(machine=machine, name="bond0", type="bond", mac_address=None)
    bond.parents.add(eth0)
    body = admin_client.get(f"{URL}{machine.system_id}/").json()
    assert [i["name"] for i in body["interface_set"]] == ["bond0", "eth0"]
    assert body["boot_interface"]["name"] == "eth0"
