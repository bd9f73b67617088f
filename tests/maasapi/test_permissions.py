"""Every write action of /MAAS/api/2.0/, tried by a non-admin user on what belongs to others:
403 or 404 as MAAS answers, and nothing in the database changes. Secrets stay hidden."""
import pytest
from django.db import connection

from nodes.choices import NodeStatus
from nodes.models import SSHKey
from power.services.parameters import machine_set_power
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    RackControllerFactory,
    ResourcePoolFactory,
    SubnetFactory,
    TagFactory,
    ZoneFactory,
)
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db

SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnB2rqbYBY4Ty0T6/8bUKv8jHe5wWbV7KxI+yG2G3Jw "
           "other@host")
# What a non-admin may do to their own things, or that concerns no one else's: tried
# elsewhere (tests/maasapi/handlers/).
THEIR_OWN = {"SSHKeysHandler.create", "SSHKeysHandler.import", "MachinesHandler.allocate",
             "MachinesHandler.create"}


@pytest.fixture
def others():
    """An admin's deployed machine with BMC secrets, and one of everything else, not ours."""
    admin = AdminFactory(username="root-user")
    subnet = SubnetFactory(cidr="10.66.0.0/24")
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin,
                             zone=ZoneFactory(name="their-zone"), tags=[TagFactory(name="t1")])
    machine_set_power(machine, "ipmi", {"power_address": "10.66.0.9", "power_user": "admin",
                                        "power_pass": "bmc-secret"})
    machine.save()
    return {
        "admin": admin, "machine": machine, "subnet": subnet,
        "interface": InterfaceFactory(machine=machine, mac_address="52:54:00:66:00:01"),
        "pool": ResourcePoolFactory(name="their-pool"),
        "iprange": IPRangeFactory(subnet=subnet, start_ip="10.66.0.100", end_ip="10.66.0.120"),
        "rack": RackControllerFactory(),
        "resource": deployable_resource(series="their"),
        "key": SSHKey.objects.create(user=admin, key=SSH_KEY),
    }


def path_values(handler, world: dict) -> dict:
    """The handler's path parameters, naming the others' objects."""
    machine, subnet = world["machine"], world["subnet"]
    ids = {"ResourcePoolHandler": world["pool"].id, "FabricHandler": subnet.vlan.fabric_id,
           "SubnetHandler": subnet.id, "IPRangeHandler": world["iprange"].id,
           "SSHKeyHandler": world["key"].id, "BootResourceHandler": world["resource"].id,
           "InterfaceHandler": world["interface"].id, "DomainHandler": 0}
    names = {"ZoneHandler": "their-zone", "TagHandler": "t1"}
    system_ids = {"RackControllerHandler": world["rack"].system_id}
    values = {"id": ids.get(handler.name), "name": names.get(handler.name),
              "system_id": system_ids.get(handler.name, machine.system_id),
              "fabric_id": subnet.vlan.fabric_id, "vid": subnet.vlan.vid, "vlan_id": subnet.vlan_id,
              "username": world["admin"].username}
    return {name: values[name] for name in handler.params()}


def _write_actions():
    from maasapi.handlers import HANDLERS

    for handler in HANDLERS:
        for action in handler.actions():
            key = f"{handler.name}.{action.name}"
            if action.method != "GET" and not handler.anonymous and key not in THEIR_OWN:
                yield pytest.param(handler, action, id=key)


def database_state() -> dict[str, int]:
    """Row counts of every table, and a digest of the machines and networks: what a refused
    request must leave as it was."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    from nodes.models import Machine
    from zones.models import VLAN, Subnet, Zone

    counts["machines"] = hash(tuple(Machine.objects.order_by("pk").values_list(
        "status", "owner_id", "zone_id", "hostname", "locked", "power_state")))
    counts["networks"] = hash(tuple(Subnet.objects.values_list("cidr", "vlan_id", "name")) +
                              tuple(VLAN.objects.values_list("vid", "name", "mtu", "dhcp_on")) +
                              tuple(Zone.objects.values_list("name", "description")))
    return counts


@pytest.mark.parametrize(("handler", "action"), list(_write_actions()))
def test_a_user_cannot_change_what_is_not_theirs(handler, action, others, maas_user):
    before = database_state()
    path = handler.uri(**path_values(handler, others))
    query = f"?op={action.op}" if action.op else ""
    body = {"machines": [others["machine"].system_id], "name": "x", "description": "x",
            "zone": "default", "add": others["machine"].system_id, "id": "1"}
    response = getattr(maas_user, action.method.lower())(path + query, body)
    assert response.status_code in (403, 404), (response.status_code, response.content)
    assert database_state() == before


@pytest.mark.parametrize("request_path", [
    "machines/{sid}/?op=power_parameters", "machines/?op=power_parameters&id={sid}"])
def test_bmc_secrets_are_for_administrators_only(others, maas_user, maas_admin, request_path):
    path = API + request_path.format(sid=others["machine"].system_id)
    assert maas_user.get(path).status_code == 403
    assert b"bmc-secret" not in maas_user.get(API + "machines/").content
    assert b"bmc-secret" not in maas_user.get(
        API + f"machines/{others['machine'].system_id}/").content
    assert maas_admin.get(path).status_code == 200


def test_no_one_reads_another_users_ssh_keys(others, maas_user):
    key = others["key"]
    assert maas_user.get(API + f"account/prefs/sshkeys/{key.id}/").status_code == 404
    assert maas_user.get(API + "account/prefs/sshkeys/").json() == []
