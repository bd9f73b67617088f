"""Objects for the schemathesis run to address: run in the live region's database, prints JSON.

`python manage.py shell -c "from tests.maasproject.schemathesis_seed import main; main()"`
prints the path parameter of each kind of object (and a rack's credentials), so that generated
requests reach real objects, not only 404s.

The run's own admin (`ops`) and its key are never a path parameter: the users and keys that
generated DELETE and PATCH calls address are sacrificial ones made here, so no generated call
can delete or demote the key the run authenticates with.
"""
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import transaction

from nodes.models import Event
from nodes.services import accounts
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    ResourcePoolFactory,
    ScriptFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    TagFactory,
    UserFactory,
    ZoneFactory,
)
from zones.services import rackapi


def seed() -> dict:
    """Create one object of each kind; their path parameters and a rack's Authorization."""
    ops = UserFactory(username="ops")
    victim = UserFactory(username="victim")
    _key, _ = accounts.apikey_create(victim, "victim's key")
    spare, _ = accounts.apikey_create(ops, "spare key, for the DELETE of the run's own account")
    machine = MachineFactory(owner=ops, tags=[TagFactory(name="fuzz-tag")])
    interface = InterfaceFactory(machine=machine)
    device = BlockDeviceFactory(machine=machine)
    script_set = ScriptSetFactory(machine=machine)
    ScriptResultFactory(script_set=script_set, script_name="fuzz-result")
    iprange = IPRangeFactory(subnet=SubnetFactory(cidr="10.77.0.0/24"))
    static = StaticIPAddressFactory(subnet=iprange.subnet)
    rack, token = rackapi.rack_register(rackapi.rack_secret(), "fuzz-rack", "1", [])
    event = Event.objects.create(machine=machine, user=ops, type="note", description="seeded")
    ssh = accounts.sshkey_create(ops, public_key())
    return {
        "system_id": machine.system_id, "interface": interface.pk, "block_device": device.pk,
        # A string: the schema types {key} as one (an id or `current-<type>`); an integer here
        # made schemathesis's stateful phase take the seeded call for a schema violation.
        "result_key": str(script_set.pk), "result_name": "fuzz-result",
        "zone": ZoneFactory(name="fuzz-zone").pk, "pool": ResourcePoolFactory().pk,
        "fabric": iprange.subnet.vlan.fabric.pk, "vlan": iprange.subnet.vlan.pk,
        "subnet": iprange.subnet.pk, "iprange": iprange.pk, "static_ip": static.pk,
        "script": ScriptFactory(name="fuzz-script").name, "tag": "fuzz-tag",
        "event": event.pk, "ssh_key": ssh.pk, "username": victim.username,
        "victim_token": _key.token_key, "spare_token": spare.token_key,
        "rack_system_id": rack.system_id, "rack_auth": f"Rack {rack.system_id}:{token}",
        "mac": interface.mac_address,
    }


def public_key() -> str:
    """A fresh OpenSSH ed25519 public key line."""
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " seed"


def main() -> None:
    with transaction.atomic():
        print(json.dumps(seed()))
