"""Enlistment: an unknown machine running the ephemeral environment registers itself."""
from dataclasses import dataclass

import netaddr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from nodes.models import Interface, Machine
from nodes.models.hardware import unicast_mac
from nodes.services.actions import machine_commission
from nodes.services.events import event_record
from nodes.services.inventory import inventory_apply_enlistment
from nodes.services.machines import generate_hostname, machine_create
from nodes.services.metadata import MetadataError
from nodes.services.tokens import token_active
from zones.models import Subnet

MAX_FIELD_LINES = 256


@dataclass(frozen=True)
class Enlisted:
    """What enlistment answers: the machine, whether it is new, and its job token if any."""

    machine: Machine
    created: bool
    token: str = ""


def enlistment_allowed_from(ip: str) -> bool:
    """Whether `ip` is inside a subnet that allows enlistment."""
    try:
        address = netaddr.IPAddress(ip)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        return False
    return any(address in netaddr.IPNetwork(cidr) for cidr in Subnet.objects.filter(
        allow_enlistment=True).values_list("cidr", flat=True))


def parse_fields(text: str) -> dict[str, list[str]]:
    """`key=value` lines into {key: [values]} (MACs repeat); MetadataError when malformed."""
    fields: dict[str, list[str]] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_FIELD_LINES:
        raise MetadataError(f"More than {MAX_FIELD_LINES} lines.")
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise MetadataError(f"Not a key=value line: {line[:80]!r}.")
        fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def machine_enlist(fields: dict[str, list[str]], *, ip: str = "") -> Enlisted:
    """Create a New machine from what its runner posted (or find it by MAC), then commission.

    Commissioning starts at once, without a power action (the machine is up), unless
    ENLIST_COMMISSION is false. A known MAC gets its machine back and no token: a token is
    handed out only with the commissioning this call starts.
    """
    try:
        macs = [unicast_mac(mac) for mac in fields.get("mac", [])]
    except ValidationError as exc:
        raise MetadataError(" ".join(exc.messages)) from exc
    if not macs:
        raise MetadataError("At least one mac= line is needed (the boot interface first).")
    known = _known_machine(macs)
    if known is not None:
        event_record(machine=known, type="enlisted",
                     description=f"Enlisted again from {ip or '-'}: already known")
        return Enlisted(known, created=False)
    try:
        return _create(macs, fields, ip)
    except IntegrityError:  # a concurrent enlistment of the same machine won the race
        known = _known_machine(macs)
        if known is None:
            raise
        return Enlisted(known, created=False)


def _known_machine(macs: list[str]) -> Machine | None:
    interface = Interface.objects.select_related("machine").filter(mac_address__in=macs)
    by_mac = {row.mac_address: row.machine for row in interface}
    return next((by_mac[mac] for mac in macs if mac in by_mac), None)


@transaction.atomic
def _create(macs: list[str], fields: dict[str, list[str]], ip: str) -> Enlisted:
    machine = machine_create(None, hostname=generate_hostname(), mac_addresses=macs[:1])
    inventory_apply_enlistment(machine, fields)
    event_record(machine=machine, type="enlisted",
                 description=f"Enlisted from {ip or '-'} with boot MAC {macs[0]} "
                             f"and {len(macs) - 1} other interface(s)")
    if not settings.ENLIST_COMMISSION:
        return Enlisted(machine, created=True)
    machine = machine_commission(machine.system_id, None, power_on=False)
    return Enlisted(machine, created=True, token=token_active(machine).key)
