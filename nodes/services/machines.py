"""Machine, interface, block device and tag writes (admin operations)."""
import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.models import BlockDevice, Interface, Machine, Tag
from nodes.services.events import event_record
from nodes.services.interfaces import interfaces_discard
from power.services.bmcs import bmc_delete_if_unused
from power.services.parameters import machine_set_power

_ADJECTIVES = ("able", "brave", "calm", "eager", "fair", "gentle", "happy", "keen", "lively",
               "merry", "noble", "proud", "quick", "sharp", "tidy", "vivid", "warm", "witty")
_NOUNS = ("badger", "crane", "dingo", "eagle", "ferret", "gecko", "heron", "ibis", "koala",
          "lemur", "marten", "newt", "otter", "panda", "quail", "raven", "stoat", "tapir")

MACHINE_FIELDS = frozenset({
    "hostname", "description", "architecture", "cpu_count", "cpu_speed", "memory",
    "osystem", "distro_series", "zone", "pool",
})


def generate_hostname() -> str:
    """A MAAS-style adjective-noun hostname not yet in use."""
    while True:
        name = f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"
        if not Machine.objects.filter(hostname=name).exists():
            return name
        name = f"{name}-{secrets.randbelow(10000)}"
        if not Machine.objects.filter(hostname=name).exists():
            return name


@transaction.atomic
def machine_create(
    user, *, mac_addresses: Iterable[str] = (), tag_names: Iterable[str] | None = None,
    power_type: str = "manual", power_parameters: dict | None = None, **fields
) -> Machine:
    """Create a New machine with its boot interfaces and power settings."""
    require_admin(user, "create machines")
    _check_fields(fields)
    if not fields.get("hostname"):
        fields["hostname"] = generate_hostname()
    machine = Machine(**fields)
    machine_set_power(machine, power_type, power_parameters or {})
    machine.full_clean(exclude=["status"])
    machine.save()
    for index, mac in enumerate(mac_addresses):
        Interface.objects.create(machine=machine, name=f"eth{index}", mac_address=mac)
    if tag_names is not None:
        machine.tags.set(tags_by_name(tag_names))
    event_record(machine=machine, type="created", user=user, description="Machine created")
    return machine


@transaction.atomic
def machine_update(
    system_id: str, user, *, tag_names: Iterable[str] | None = None,
    power_type: str | None = None, power_parameters: dict | None = None, **fields
):
    """Change a machine's descriptive and power fields (status is the lifecycle's)."""
    require_admin(user, "edit machines")
    _check_fields(fields)
    machine = Machine.objects.select_for_update().get(system_id=system_id)
    old_bmc_id = machine.bmc_id
    for name, value in fields.items():
        setattr(machine, name, value)
    if power_type is not None or power_parameters is not None:
        machine_set_power(machine, power_type or machine.power_type, power_parameters or {})
        fields["power"] = True
    machine.full_clean(exclude=["status"])
    machine.save()
    if machine.bmc_id != old_bmc_id:
        bmc_delete_if_unused(old_bmc_id)
    if tag_names is not None:
        machine.tags.set(tags_by_name(tag_names))
    changed = ", ".join(sorted(set(fields) | ({"tags"} if tag_names is not None else set())))
    event_record(machine=machine, type="updated", user=user, description=f"Changed {changed}")
    return machine


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - MACHINE_FIELDS
    if unknown:
        raise TypeError(f"Unknown machine fields: {', '.join(sorted(unknown))}")


def tags_by_name(names: Iterable[str]) -> list[Tag]:
    """Return the tags with these names; callers validate that they exist."""
    names = list(dict.fromkeys(names))
    tags = list(Tag.objects.filter(name__in=names))
    missing = set(names) - {t.name for t in tags}
    if missing:
        raise Tag.DoesNotExist(f"Unknown tags: {', '.join(sorted(missing))}")
    return tags


def _part_create(part_model, machine: Machine, user, what: str, describe, /, **fields):
    """Add an interface or block device to a machine (validated, with its Event)."""
    require_admin(user, f"add {what}s")
    part = part_model(machine=machine, **fields)
    try:
        part.full_clean(exclude=["machine"])
        errors = {}
    except ValidationError as exc:
        errors = exc.message_dict
    if part_model.objects.filter(machine=machine, name=part.name).exists():
        errors.setdefault("name", []).append(
            f"This machine already has a {what} named {part.name}.")
    if errors:
        raise ValidationError(errors)
    part.save()
    event_record(machine=machine, type=f"{what.replace(' ', '_')}_added", user=user,
                 description=describe(part))
    return part


def _part_delete(part, user, what: str, describe) -> None:
    require_admin(user, f"remove {what}s")
    event_record(machine=part.machine, type=f"{what.replace(' ', '_')}_removed", user=user,
                 description=describe(part))
    part.delete()


def _describe_interface(interface: Interface) -> str:
    return f"Interface {interface.name} {interface.mac_address}"


@transaction.atomic
def interface_create(machine: Machine, user, **fields) -> Interface:
    return _part_create(Interface, machine, user, "interface", _describe_interface, **fields)


@transaction.atomic
def interface_delete(interface: Interface, user) -> None:
    require_admin(user, "remove interfaces")
    event_record(machine=interface.machine, type="interface_removed", user=user,
                 description=_describe_interface(interface))
    # With its links (their addresses would outlive them) and the interfaces left parentless.
    interfaces_discard([interface])


@transaction.atomic
def block_device_create(machine: Machine, user, **fields) -> BlockDevice:
    return _part_create(BlockDevice, machine, user, "block device",
                        lambda d: f"Block device {d.name} ({d.size} bytes)", **fields)


@transaction.atomic
def block_device_delete(device: BlockDevice, user) -> None:
    _part_delete(device, user, "block device", lambda d: f"Block device {d.name}")
