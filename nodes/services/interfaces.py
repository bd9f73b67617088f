"""A machine's interfaces as MAAS models them: create physical, bond, bridge and VLAN
interfaces, update and delete them (admins create; admins or the owner change and delete)."""
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import NotPermitted
from maasproject.permissions import is_admin
from maasproject.validators import validate_name
from nodes.choices import EventLevel
from nodes.choices import InterfaceType as T
from nodes.models import Interface, InterfaceLink, Machine
from nodes.models.hardware import unicast_mac
from nodes.services.events import event_record
from nodes.services.links import links_discard, machine_lock_network
from zones.models import VLAN, StaticIPAddress

MTU_RANGE = (552, 65535)  # Linux refuses an MTU below 552, as MAAS checks
NAME_PREFIXES = {T.PHYSICAL: "eth", T.BOND: "bond", T.BRIDGE: "br"}
KEEP = object()  # interface_update: "not given" for a field where None means "none"


@dataclass(frozen=True)
class Option:
    """A bond or bridge option: its default and its allowed values (choices, else 0..high)."""

    default: object
    choices: tuple = ()
    high: int | None = None

    def problem(self, value) -> str:
        if self.choices:
            return "" if value in self.choices else \
                f"'{value}' is not one of {', '.join(str(c) for c in self.choices)}."
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
                self.high is not None and value > self.high):
            return f"{value!r} is not a whole number from 0 to {self.high or 'any'}."
        return ""


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
              "balance-tlb", "balance-alb")
BOND_OPTIONS = {
    "bond_mode": Option("active-backup", BOND_MODES),
    "bond_miimon": Option(100),
    "bond_downdelay": Option(0),
    "bond_updelay": Option(0),
    "bond_lacp_rate": Option("slow", ("fast", "slow")),
    "bond_xmit_hash_policy": Option("layer2", ("layer2", "layer2+3", "layer3+4", "encap2+3",
                                               "encap3+4")),
    "bond_num_grat_arp": Option(1, high=255),
}
BRIDGE_OPTIONS = {"bridge_stp": Option(False, (False, True)), "bridge_fd": Option(15)}
OPTIONS = {T.BOND: BOND_OPTIONS, T.BRIDGE: BRIDGE_OPTIONS}


# --- checks: each adds field errors; nothing is written until all have passed -----------------

def interface_require_admin(machine: Machine, user) -> None:
    """NotPermitted (403) unless `user` may add interfaces: administrators, as in MAAS."""
    if user is not None and not is_admin(user):
        raise NotPermitted(f"Only administrators can add interfaces to machine "
                           f"{machine.system_id}.")


def _lock(machine_id: int, user, *, admin_only: bool = False) -> Machine:
    """The machine, locked; 403 for a user who may not, 409 in a status where it cannot."""
    if admin_only:
        interface_require_admin(Machine.objects.get(pk=machine_id), user)
    return machine_lock_network(machine_id, user, "interfaces")


def _parents(machine: Machine, ids: list[int], field: str, errors: dict) -> list[Interface]:
    """The interfaces `ids` of this machine, in the order given."""
    ids = list(dict.fromkeys(ids))
    found = {row.pk: row for row in machine.interfaces.filter(pk__in=ids).select_related("vlan")}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        errors[field] = [f"Machine {machine.system_id} has no interface {', '.join(missing)}."]
    return [found[pk] for pk in ids if pk in found]


def _check_free(parents: list[Interface], field: str, errors: dict, *, but=()) -> None:
    """Parents already under another interface (but those of types `but`) are refused."""
    busy = sorted({parent.name for parent in parents
                   for child in parent.children.all() if child.type not in but})
    if busy:
        errors.setdefault(field, []).append(f"Interfaces already in use: {', '.join(busy)}.")


def _name(machine: Machine, name: str, errors: dict, exclude: int | None = None) -> str:
    try:
        validate_name(name)
        if not name.strip() or len(name) > 64 or any(c.isspace() or c == "/" for c in name):
            raise ValidationError("Not an interface name (1-64 characters, no spaces nor '/').")
    except ValidationError as exc:
        errors["name"] = exc.messages
        return name
    if machine.interfaces.filter(name=name).exclude(pk=exclude).exists():
        errors["name"] = [f"Machine {machine.system_id} already has an interface named "
                          f"'{name}'."]
    return name


def _next_name(machine: Machine, prefix: str) -> str:
    """MAAS's default name: the prefix and the lowest number not taken (eth0, bond0, br0)."""
    taken, index = set(machine.interfaces.values_list("name", flat=True)), 0
    while f"{prefix}{index}" in taken:
        index += 1
    return f"{prefix}{index}"


def _mac(value: str | None, errors: dict, *, required: bool, exclude: int | None = None,
         inherited: str | None = None) -> str | None:
    """A unicast MAC not in use; None when not given, or when it is the one inherited."""
    if not value:
        if required:
            errors["mac_address"] = ["This field is required."]
        return None
    try:
        mac = unicast_mac(value)
    except ValidationError as exc:
        errors["mac_address"] = exc.messages
        return None
    if mac == inherited:
        return None  # what the interface shows anyway: its first parent's
    if Interface.objects.filter(mac_address=mac).exclude(pk=exclude).exists():
        errors["mac_address"] = [f"MAC address {mac} is already in use."]
    return mac


def _params(kind: str, options: dict | None, mtu: int | None, errors: dict,
            current: dict | None = None) -> dict:
    """The interface's params: `current` (on creation the defaults of its type) updated with the
    options and MTU given (None: unchanged)."""
    spec = OPTIONS.get(kind, {})
    unknown = set(options or {}) - set(spec)
    if unknown:
        raise TypeError(f"Not options of a {kind} interface: {', '.join(sorted(unknown))}")
    params = dict(current) if current is not None else {
        name: option.default for name, option in spec.items()}
    for name, value in (options or {}).items():
        problem = "" if value is None else spec[name].problem(value)
        if problem:
            errors[name] = [problem]
        elif value is not None:
            params[name] = value
    if mtu is not None:
        if not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
            errors["mtu"] = [f"{mtu} is not an MTU from {MTU_RANGE[0]} to {MTU_RANGE[1]}."]
        params["mtu"] = mtu
    return params


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _record(machine: Machine, user, type: str, description: str) -> None:
    event_record(machine=machine, type=type, user=user, description=description,
                 level=EventLevel.AUDIT if user is not None else EventLevel.INFO)


def _save(machine: Machine, user, kind: str, parents: list[Interface], **fields) -> Interface:
    interface = Interface.objects.create(machine=machine, type=kind, **fields)
    for parent in parents:  # one by one: the first parent (the MAC's) stays first
        interface.parents.add(parent)
    over = f" over {', '.join(parent.name for parent in parents)}" if parents else ""
    _record(machine, user, "interface_created", f"Created {kind} interface "
            f"{interface.name}{over}")
    return interface


# --- creation ----------------------------------------------------------------------------------

@transaction.atomic
def interface_create_physical(machine_id: int, user, *, mac_address: str, name: str = "",
                              vlan: VLAN | None = None, mtu: int | None = None,
                              enabled: bool = True) -> Interface:
    """A physical interface with its own MAC (unique); named eth<N> by default."""
    machine = _lock(machine_id, user, admin_only=True)
    errors: dict[str, list[str]] = {}
    mac = _mac(mac_address, errors, required=True)
    name = _name(machine, name or _next_name(machine, "eth"), errors)
    params = _params(T.PHYSICAL, None, mtu, errors)
    _raise(errors)
    return _save(machine, user, T.PHYSICAL, [], name=name, mac_address=mac, vlan=vlan,
                 params=params, enabled=enabled)


@transaction.atomic
def interface_create_bond(machine_id: int, user, *, parents: list[int], name: str = "",
                          mac_address: str | None = None, vlan: VLAN | None = None,
                          mtu: int | None = None, options: dict | None = None) -> Interface:
    """A bond of physical interfaces of the machine that are in nothing else yet and on one
    VLAN (the bond's, by default theirs). Their links go, as in MAAS: link the bond instead."""
    machine = _lock(machine_id, user, admin_only=True)
    errors: dict[str, list[str]] = {}
    found = _parents(machine, parents, "parents", errors)
    if not found and "parents" not in errors:
        errors["parents"] = ["A bond needs one or more parents."]
    if any(parent.type != T.PHYSICAL for parent in found):
        errors.setdefault("parents", []).append("Only physical interfaces can be bonded.")
    _check_free(found, "parents", errors)
    vlan = vlan if vlan is not None or not found else found[0].vlan
    if found and {parent.vlan_id for parent in found} != {vlan.pk if vlan else None}:
        errors.setdefault("parents", []).append("All parents must be on the bond's VLAN.")
    params = _params(T.BOND, options, mtu, errors)
    name = _name(machine, name or _next_name(machine, "bond"), errors)
    mac = _mac(mac_address, errors, required=False,
               inherited=found[0].mac_address if found else None)
    _raise(errors)
    for parent in found:
        links_discard(parent.links.all())
    return _save(machine, user, T.BOND, found, name=name, mac_address=mac, vlan=vlan,
                 params=params)


def _one_parent(machine: Machine, parent: list[int], what: str,
                errors: dict[str, list[str]]) -> list[Interface]:
    """The parent of a bridge or VLAN interface (a field error unless exactly one)."""
    found = _parents(machine, parent, "parent", errors)
    if len(found) != 1 and "parent" not in errors:
        errors["parent"] = [f"{what} needs exactly one parent."]
    return found


@transaction.atomic
def interface_create_bridge(machine_id: int, user, *, parent: list[int], name: str = "",
                            mac_address: str | None = None, vlan: VLAN | None = None,
                            mtu: int | None = None, options: dict | None = None) -> Interface:
    """A bridge over one interface (not a bridge, in no bond or bridge; VLAN interfaces on it
    may stay). The parent's links move to the bridge when it stays on the parent's VLAN."""
    machine = _lock(machine_id, user, admin_only=True)
    errors: dict[str, list[str]] = {}
    found = _one_parent(machine, parent, "A bridge", errors)
    if any(row.type == T.BRIDGE for row in found):
        errors.setdefault("parent", []).append("A bridge cannot be over another bridge.")
    _check_free(found, "parent", errors, but=(T.VLAN,))
    vlan = vlan if vlan is not None or not found else found[0].vlan
    params = _params(T.BRIDGE, options, mtu, errors)
    name = _name(machine, name or _next_name(machine, "br"), errors)
    mac = _mac(mac_address, errors, required=False,
               inherited=found[0].effective_mac_address if found else None)
    _raise(errors)
    bridge = _save(machine, user, T.BRIDGE, found, name=name, mac_address=mac, vlan=vlan,
                   params=params)
    if found[0].vlan_id == bridge.vlan_id:
        InterfaceLink.objects.filter(interface=found[0]).update(interface=bridge)
        StaticIPAddress.objects.filter(link__interface=bridge).update(interface=bridge)
    else:
        links_discard(found[0].links.all())
    return bridge


def _vlan_problem(parent: Interface, vlan: VLAN, exclude: int | None = None) -> str:
    """Why `vlan` cannot be the tagged VLAN of an interface on `parent` ("" when it can)."""
    if vlan.vid == 0:
        return "A VLAN interface can only be on a tagged VLAN, not an untagged one."
    if parent.vlan is None or parent.vlan.fabric_id != vlan.fabric_id:
        return f"VLAN {vlan.vid} is not on the fabric of {parent.name}'s VLAN."
    if parent.children.filter(type=T.VLAN, vlan=vlan).exclude(pk=exclude).exists():
        return f"{parent.name} already has an interface on VLAN {vlan.vid}."
    return ""


@transaction.atomic
def interface_create_vlan(machine_id: int, user, *, parent: list[int], vlan: VLAN | None,
                          mtu: int | None = None) -> Interface:
    """A VLAN interface `<parent>.<vid>` on one interface (not a VLAN one, in no bond) for a
    tagged VLAN of the parent's fabric."""
    machine = _lock(machine_id, user, admin_only=True)
    errors: dict[str, list[str]] = {}
    found = _one_parent(machine, parent, "A VLAN interface", errors)
    if any(row.type == T.VLAN for row in found):
        errors.setdefault("parent", []).append("A VLAN interface cannot be on another one.")
    if any(row.children.filter(type=T.BOND).exists() for row in found):
        errors.setdefault("parent", []).append("The parent is in a bond: use the bond.")
    if vlan is None:
        errors["vlan"] = ["This field is required: the tagged VLAN."]
    elif len(found) == 1 and _vlan_problem(found[0], vlan):
        errors["vlan"] = [_vlan_problem(found[0], vlan)]
    params = _params(T.VLAN, None, mtu, errors)
    name = _name(machine, f"{found[0].name}.{vlan.vid}", errors) \
        if len(found) == 1 and vlan is not None else ""
    _raise(errors)
    return _save(machine, user, T.VLAN, found, name=name, vlan=vlan, params=params)


# --- update and delete -------------------------------------------------------------------------

@transaction.atomic
def interface_update(interface_id: int, user, *, name: str | None = None,
                     mac_address: str | None = None, vlan=KEEP, mtu: int | None = None,
                     enabled: bool | None = None, options: dict | None = None) -> Interface:
    """Change what is given (None or KEEP: unchanged; vlan None disconnects). Links on
    another VLAN than the new one go. A VLAN interface's name follows its VLAN."""
    interface = Interface.objects.select_related("machine").get(pk=interface_id)
    machine = _lock(interface.machine_id, user)
    errors: dict[str, list[str]] = {}
    renamed = _update_identity(interface, name, mac_address, errors)
    if vlan is not KEEP:
        _update_vlan(interface, vlan, errors)
    interface.params = _params(interface.type, options, mtu, errors, current=interface.params)
    if enabled is not None:
        interface.enabled = enabled
    _raise(errors)
    if vlan is not KEEP:
        links_discard(interface.links.exclude(subnet__vlan=interface.vlan_id))
    interface.save()
    for child in renamed:  # its VLAN interfaces, <name>.<vid>
        child.save(update_fields=["name"])
    _record(machine, user, "interface_updated", f"Updated {interface.type} interface "
            f"{interface.name}")
    return interface


def _update_identity(interface: Interface, name: str | None, mac: str | None,
                     errors: dict) -> list[Interface]:
    """Set the new name and MAC; the VLAN interfaces on it, renamed with it (not saved)."""
    is_vlan, renamed = interface.type == T.VLAN, []
    if name is not None and name != interface.name:
        if is_vlan:
            errors["name"] = ["A VLAN interface is named after its parent and VLAN."]
        interface.name = _name(interface.machine, name, errors, exclude=interface.pk)
        renamed = list(interface.children.filter(type=T.VLAN).select_related("vlan"))
        for child in renamed:
            child.name = _name(interface.machine, f"{name}.{child.vlan.vid}", errors,
                               exclude=child.pk)
    if mac is not None and is_vlan:
        errors["mac_address"] = ["A VLAN interface has its parent's MAC address."]
    elif mac is not None:
        parents = interface.parents_in_order()
        interface.mac_address = _mac(
            mac, errors, required=interface.type == T.PHYSICAL, exclude=interface.pk,
            inherited=parents[0].effective_mac_address if parents else None)
    return renamed


def _update_vlan(interface: Interface, vlan: VLAN | None, errors: dict) -> None:
    if interface.type == T.VLAN:
        parent = interface.parents_in_order()[0]
        problem = ("A VLAN interface needs its tagged VLAN." if vlan is None
                   else _vlan_problem(parent, vlan, exclude=interface.pk))
        if problem:
            errors["vlan"] = [problem]
            return
        interface.name = _name(interface.machine, f"{parent.name}.{vlan.vid}", errors,
                               exclude=interface.pk)
    interface.vlan = vlan


@transaction.atomic
def interface_delete(interface_id: int, user) -> list[str]:
    """Delete an interface with its links (addresses freed), and the bond, bridge and VLAN
    interfaces left without a parent; the names deleted."""
    interface = Interface.objects.get(pk=interface_id)
    machine = _lock(interface.machine_id, user)
    names = interfaces_discard([interface])
    _record(machine, user, "interface_deleted", f"Deleted interface {', '.join(names)}")
    return names


def interfaces_discard(rows: list[Interface]) -> list[str]:
    """Delete interfaces with their links (addresses freed), then, as MAAS does, the bond,
    bridge and VLAN interfaces over them that are left without any parent; the names."""
    names: list[str] = []
    while rows:
        ids = [row.pk for row in rows]
        children = list(Interface.objects.filter(parents__in=ids).exclude(pk__in=ids)
                        .values_list("pk", flat=True).distinct())
        links_discard(InterfaceLink.objects.filter(interface_id__in=ids))
        Interface.objects.filter(pk__in=ids).delete()
        names += [row.name for row in rows]
        rows = list(Interface.objects.filter(pk__in=children, parents__isnull=True))
    return names
