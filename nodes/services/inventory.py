"""Write a machine's hardware inventory from built-in script output and enlistment data."""
import logging

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from nodes.architectures import validate_architecture
from nodes.choices import EventLevel, Firmware, InterfaceType, ScriptStatus
from nodes.models import BlockDevice, Interface, Machine, ScriptResult, Tag
from nodes.models.hardware import normalise_mac
from nodes.scripts.output import SCHEMAS, parse_output
from nodes.services.events import event_record
from nodes.services.interfaces import interfaces_discard

logger = logging.getLogger(__name__)
# DMI vendor or product words that mean the machine is a virtual machine.
VIRTUAL_MARKERS = ("qemu", "kvm", "bochs", "virtualbox", "vmware", "xen", "hyper-v",
                   "virtual machine", "cloud hypervisor")


def inventory_apply(result: ScriptResult) -> None:
    """Parse a passed built-in result's stdout into the inventory (never the status)."""
    if result.status != ScriptStatus.PASSED or result.script_name not in SCHEMAS:
        return
    if result.script_id is not None and not result.script.default:
        return  # a user script: its output is the operator's, not ours to interpret
    machine = result.script_set.machine
    text = bytes(result.stdout or b"").decode("utf-8", errors="replace")
    parsed = parse_output(result.script_name, text)
    warnings = list(parsed.warnings)
    try:
        with transaction.atomic():  # a savepoint: a failed write leaves the caller's job intact
            # Rows of devices on a malformed line must not be deleted as stale: only a clean
            # output is complete.
            APPLY[result.script_name](machine, parsed.data, complete=not parsed.warnings)
    except (DatabaseError, ValidationError, ValueError) as exc:
        logger.exception("%s: %s not applied", machine.system_id, result.script_name)
        warnings.append(f"inventory not applied: {exc}")
    if warnings:
        _warn(machine, result.script_name, warnings)


def _warn(machine: Machine, source: str, warnings: list[str]) -> None:
    logger.warning("%s: %s ignored lines: %s", machine.system_id, source, warnings)
    shown = "; ".join(warnings[:10]) + (f"; and {len(warnings) - 10} more"
                                         if len(warnings) > 10 else "")
    event_record(machine=machine, type="inventory_warning", level=EventLevel.WARNING,
                 description=f"{source}: ignored {len(warnings)} malformed line(s): {shown}")


def _set_machine_fields(machine: Machine, **fields) -> None:
    """Update inventory columns only: a queryset update never writes (or races on) status."""
    if fields:
        Machine.objects.filter(pk=machine.pk).update(updated=timezone.now(), **fields)
        for name, value in fields.items():
            setattr(machine, name, value)


def _architecture(machine: Machine, arch: str) -> str:
    """`arch/subarch`, keeping the machine's subarchitecture when the arch is unchanged."""
    current, _, subarch = machine.architecture.partition("/")
    return machine.architecture if current == arch else f"{arch}/{subarch or 'generic'}"


def _known(architecture: str) -> bool:
    try:
        validate_architecture(architecture)
    except ValidationError:
        return False
    return True


def _apply_cpu(machine: Machine, data: dict, complete: bool = True) -> None:
    fields = {}
    if "cpu_count" in data:
        fields["cpu_count"] = data["cpu_count"]
    if "cpu_speed" in data:
        fields["cpu_speed"] = data["cpu_speed"]
    if data.get("arch") and _known(_architecture(machine, data["arch"])):
        fields["architecture"] = _architecture(machine, data["arch"])
    _set_machine_fields(machine, **fields)
    if data.get("cpu_model"):
        event_record(machine=machine, type="inventory_cpu",
                     description=f"{data.get('cpu_count', '?')} x {data['cpu_model']}")


def _apply_memory(machine: Machine, data: dict, complete: bool = True) -> None:
    if "memory_mib" in data:
        _set_machine_fields(machine, memory=data["memory_mib"])


def _apply_block_devices(machine: Machine, devices: list[dict], complete: bool = True) -> None:
    """Replace the machine's block devices by the ones reported (matched by name)."""
    if complete:
        machine.block_devices.exclude(name__in=[device["name"] for device in devices]).delete()
    for device in devices:
        row = machine.block_devices.filter(name=device["name"]).first() or BlockDevice(
            machine=machine, name=device["name"])
        row.size = device["size"]
        row.block_size = device.get("block_size", 512)
        row.model = device.get("model", "")
        row.serial = device.get("serial", "")
        row.id_path = device.get("id_path", "")
        kind = "rotary" if device.get("rotational", "1") == "1" else "ssd"
        row.tags = [t for t in row.tags or [] if t not in ("ssd", "rotary")] + [kind]
        row.save()


def boot_interface(machine: Machine) -> Interface | None:
    """The interface the machine was created or enlisted with first (its boot MAC)."""
    return machine.interfaces.filter(type=InterfaceType.PHYSICAL).order_by("id").first()


def _apply_network(machine: Machine, nics: list[dict], complete: bool = True) -> None:
    """Match reported NICs to physical rows by MAC; add new ones; drop stale ones but the boot
    one (with the bond, bridge and VLAN interfaces left without a parent)."""
    reported = {nic["mac"]: nic for nic in nics}
    foreign = set(Interface.objects.filter(mac_address__in=list(reported)).exclude(
        machine=machine).values_list("mac_address", flat=True))
    if foreign:
        _warn(machine, "20-network", [f"MAC {mac} belongs to another machine: skipped"
                                      for mac in sorted(foreign)])
    boot = boot_interface(machine)
    # Only physical interfaces are reported: bonds, bridges and VLAN interfaces are the
    # operator's, and go only with their last parent.
    physical = machine.interfaces.filter(type=InterfaceType.PHYSICAL)
    if complete:
        stale = physical.exclude(mac_address__in=list(reported))
        interfaces_discard(list(stale.exclude(pk=boot.pk if boot else None)))
    rows = {row.mac_address: row for row in physical.all()}
    original = {mac: row.name for mac, row in rows.items()}
    # Park every row on a unique name first, so reported names can be swapped or reused.
    for row in rows.values():
        row.name = f"~{row.pk}"
        row.save(update_fields=["name"])
    for mac, nic in reported.items():
        if mac in foreign or machine.interfaces.filter(name=nic["name"]).exists():
            continue
        row = rows.pop(mac, None) or Interface(machine=machine, mac_address=mac)
        row.name, row.link_speed = nic["name"], nic.get("speed", 0)
        row.save()
    for mac, row in rows.items():  # kept unreported rows (boot, incomplete output)
        row.name = _free_name(machine, original[mac])
        row.save(update_fields=["name"])


def _free_name(machine: Machine, wanted: str) -> str:
    existing = set(machine.interfaces.values_list("name", flat=True))
    name, index = wanted, 0
    while name in existing:
        index += 1
        name = f"{wanted}-{index}"
    return name


def _apply_dmi(machine: Machine, data: dict, complete: bool = True) -> None:
    described = ", ".join(f"{key}={value}" for key, value in data.items() if value)
    event_record(machine=machine, type="inventory_dmi", description=described or "no DMI data")
    product = f"{data.get('vendor', '')} {data.get('product', '')}".lower()
    if any(marker in product for marker in VIRTUAL_MARKERS):
        tag, _ = Tag.objects.get_or_create(name="virtual",
                                           defaults={"comment": "Virtual machine (DMI)"})
        machine.tags.add(tag)


def _apply_firmware(machine: Machine, data: dict, complete: bool = True) -> None:
    if "firmware" not in data:
        return
    secure_boot = {"on": True, "off": False}.get(data.get("secure_boot", ""))
    machine_firmware_seen(machine, data["firmware"], secure_boot)


def machine_firmware_seen(machine: Machine, firmware: str, secure_boot: bool | None = None
                          ) -> None:
    """Record how the machine boots (a DHCP option 93 or commissioning) and, when known,
    whether Secure Boot is on; an event when it changes. A queryset update: never a status."""
    if firmware not in Firmware.values:
        return
    changes = {"firmware": firmware}
    if firmware == Firmware.BIOS or secure_boot is not None:
        changes["secure_boot"] = None if firmware == Firmware.BIOS else secure_boot
    current = Machine.objects.filter(pk=machine.pk).values(*changes).first()
    if current is None or current == changes:
        return
    Machine.objects.filter(pk=machine.pk).update(**changes)
    for field, value in changes.items():
        setattr(machine, field, value)
    secure = {True: ", Secure Boot on", False: ", Secure Boot off"}.get(changes.get("secure_boot"),
                                                                         "")
    event_record(machine=machine, type="inventory_firmware",
                 description=f"boots {Firmware(firmware).label}{secure}")


def _apply_bmc(machine: Machine, data: dict, complete: bool = True) -> None:
    if "bmc" not in data:
        return
    where = f" ({data['source']})" if data.get("source") else ""
    event_record(machine=machine, type="inventory_bmc", description=f"BMC {data['bmc']}{where}")


APPLY = {
    "10-cpu": _apply_cpu,
    "10-memory": _apply_memory,
    "20-block-devices": _apply_block_devices,
    "20-network": _apply_network,
    "30-dmi": _apply_dmi,
    "30-bmc": _apply_bmc,
    "30-firmware": _apply_firmware,
}


@transaction.atomic
def inventory_apply_enlistment(machine: Machine, fields: dict[str, list[str]]) -> None:
    """Basic inventory an enlisting machine posts: arch, cpu_count, memory_mib, mac lines."""
    warnings, updates = [], {}
    for key, column in (("cpu_count", "cpu_count"), ("memory_mib", "memory")):
        value = (fields.get(key) or [""])[-1].strip()
        if value.isdigit() and int(value) > 0:
            updates[column] = int(value)
        elif value:
            warnings.append(f"{key}: {value!r} is not a positive integer")
    arch = (fields.get("arch") or [""])[-1].strip()
    if arch and _known(arch if "/" in arch else _architecture(machine, arch)):
        updates["architecture"] = arch if "/" in arch else _architecture(machine, arch)
    elif arch:
        warnings.append(f"arch: {arch!r} is not an architecture")
    _set_machine_fields(machine, **updates)
    for raw in fields.get("mac") or []:
        warning = _enlist_mac(machine, raw)
        if warning:
            warnings.append(warning)
    if warnings:
        _warn(machine, "enlistment", warnings)


def _enlist_mac(machine: Machine, raw: str) -> str:
    """Add an interface for a posted MAC unless it exists; a warning text when it cannot."""
    try:
        mac = normalise_mac(raw)
    except ValidationError:
        return f"mac: {raw!r} is not a MAC address"
    owner = Interface.objects.filter(mac_address=mac).values_list("machine_id", flat=True).first()
    if owner == machine.pk:
        return ""
    if owner is not None:
        return f"mac: {mac} belongs to another machine"
    count = machine.interfaces.filter(type=InterfaceType.PHYSICAL).count()
    Interface.objects.create(machine=machine, mac_address=mac,
                             name=_free_name(machine, f"eth{count}"))
    return ""
