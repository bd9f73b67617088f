"""The storage layout a deploy makes on a machine's boot disk: chosen per machine, checked early.

Set by an admin or the owner while the machine is not deployed nor on its way (as its network
links); the deploy then plans the layout on the boot disk and refuses a disk too small (400,
nothing started).
"""
from django.core.exceptions import ValidationError
from django.db import transaction

from nodes.choices import BlockDeviceType, StorageLayout
from nodes.models import BlockDevice, Machine
from nodes.services.events import event_record
from nodes.services.links import machine_lock_network
from nodes.storage_layouts import GIB, minimum_size, storage_plan


@transaction.atomic
def machine_set_storage_layout(system_id: str, user, *, storage_layout: str,
                               boot_disk: str | int | None = None) -> Machine:
    """Choose the layout and, optionally, the boot disk (a disk's id or name); field errors
    for an unknown layout, a disk that is not the machine's or one too small."""
    machine = Machine.objects.get(system_id=system_id)
    machine = machine_lock_network(machine.pk, user, what="storage layout")
    errors: dict[str, list[str]] = {}
    if storage_layout not in StorageLayout.values:
        errors["storage_layout"] = [f"'{storage_layout}' is not a storage layout: one of "
                                    f"{', '.join(StorageLayout.values)}."]
    disk = machine.boot_disk
    if boot_disk not in (None, ""):
        disk = _disk(machine, boot_disk)
        if disk is None:
            errors["boot_disk"] = [f"{machine.hostname} has no physical disk {boot_disk}."]
    if disk is not None and "boot_disk" not in errors and (
            problem := too_small(machine, disk, storage_layout)):
        errors["boot_disk"] = [problem]
    if errors:
        raise ValidationError(errors)
    machine.storage_layout, machine.boot_disk = storage_layout, disk
    machine.save(update_fields=["storage_layout", "boot_disk", "updated"])
    event_record(machine=machine, type="storage_layout", user=user,
                 description=f"Storage layout {storage_layout} on "
                             f"{disk.name if disk else 'the first disk'}")
    return machine


def _disk(machine: Machine, ref: str | int) -> BlockDevice | None:
    disks = machine.block_devices.filter(type=BlockDeviceType.PHYSICAL)
    ref = str(ref)
    return (disks.filter(pk=int(ref)).first() if ref.isdigit() else None) or \
        disks.filter(name=ref.removeprefix("/dev/")).first()


def too_small(machine: Machine, disk: BlockDevice, layout: str) -> str:
    """Why `layout` cannot go on `disk`, or ''."""
    needed = minimum_size(machine.firmware)
    if disk.size >= needed:
        return ""
    return (f"{disk.name} has {disk.size / GIB:.1f} GiB; the {layout} layout "
            f"needs at least {needed / GIB:.1f} GiB.")


def machine_storage_plan(machine: Machine, disk: str) -> dict:
    """The layout planned on the deploy's boot disk (`disk`: its device path, '' if unknown);
    ValidationError when the known disk is too small (the deploy is refused)."""
    chosen = machine.boot_disk or machine.block_devices.filter(
        name=disk.removeprefix("/dev/")).first()
    if chosen is not None and (problem := too_small(machine, chosen, machine.storage_layout)):
        raise ValidationError({"storage_layout": [f"No disk large enough: {problem}"]})
    return storage_plan(machine.storage_layout, machine.firmware, disk)
