"""The region side of the rack API: registration, heartbeats, config, leases, boot events.

Callers (the rack API views) validate the shape of each payload; these services check what
needs the database and write in one transaction each.
"""
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime

import netaddr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from maasproject.env import generated_secret
from maasproject.errors import ServiceError
from nodes.choices import EventLevel
from nodes.models import Event, Interface
from nodes.services.bootretry import boot_transfer_broken
from nodes.services.events import event_record
from nodes.services.inventory import machine_firmware_seen
from zones.choices import IPRangeType, LeaseState
from zones.models import DHCPLease, RackController, StaticIPAddress, Subnet
from zones.services.racks import rack_apply_status, rack_status_for, vlans_served_by

RACK_SECRET_FILE = "rack_secret"
HTTP_BOOT_PORT = 5248
# A boot file the rack cannot serve; a client architecture it has no loader for.
WARNING_EVENT_TYPES = frozenset({"boot_file_missing", "boot_unsupported_arch"})


class RegistrationRefused(ServiceError):
    """The shared secret a rack presented is wrong."""


def rack_secret() -> str:
    """The shared secret racks register with, generated once into $VAR_DIR/rack_secret."""
    return generated_secret(RACK_SECRET_FILE, nbytes=24)


def hash_token(token: str) -> str:
    """Tokens are random and long: a plain SHA-256 is enough, and survives SECRET_KEY changes."""
    return hashlib.sha256(token.encode()).hexdigest()


def rack_authenticate(system_id: str, token: str) -> RackController | None:
    """The rack whose system_id and token match, else None."""
    rack = RackController.objects.filter(system_id=system_id).first()
    if rack is None or not rack.token_hash:
        return None
    return rack if hmac.compare_digest(rack.token_hash, hash_token(token)) else None


@transaction.atomic
def rack_register(secret: str, name: str, version: str,
                  interfaces: list[dict]) -> tuple[RackController, str]:
    """Create (or re-key) the rack `name`; return it with its new token (shown only once)."""
    if not hmac.compare_digest(secret.encode(), rack_secret().encode()):
        raise RegistrationRefused("Wrong rack secret.")
    from nodes.models.machine import generate_system_id

    rack = RackController.objects.select_for_update().filter(name=name).first()
    created = rack is None
    if created:
        rack = RackController(name=name, system_id=_new_rack_system_id(generate_system_id))
    token = secrets.token_urlsafe(32)
    rack.token_hash = hash_token(token)
    rack.version = version
    rack.interfaces = interfaces
    rack.save()
    link_subnets(rack, interfaces)
    event_record(machine=None, type="rack_registered", hostname=name,
                 description=f"Rack {name} {'registered' if created else 're-registered'}"
                             f" (version {version or 'unknown'}).")
    return rack, token


def _new_rack_system_id(generate) -> str:
    while True:
        candidate = generate()
        if not RackController.objects.filter(system_id=candidate).exists():
            return candidate


def link_subnets(rack: RackController, interfaces: list[dict]) -> None:
    """Link the rack to every subnet one of its addresses falls in (links are never removed)."""
    addresses = []
    for interface in interfaces:
        for address in interface.get("addresses", []):
            try:
                addresses.append(netaddr.IPNetwork(address).ip)
            except (netaddr.AddrFormatError, ValueError, TypeError):
                continue
    matched = [subnet for subnet in Subnet.objects.all()
               if any(ip in subnet.network for ip in addresses)]
    if matched:
        rack.subnets.add(*matched)


@transaction.atomic
def rack_heartbeat(rack: RackController, interfaces: list[dict], services: dict,
                   now: datetime | None = None, reasons: dict | None = None) -> str:
    """Record a heartbeat: interfaces, service states (and why any is not running), subnets;
    return the rack's new status."""
    rack = RackController.objects.select_for_update().get(pk=rack.pk)
    rack.last_heartbeat = now or timezone.now()
    rack.interfaces = interfaces
    rack.services = services
    rack.service_reasons = reasons or {}
    rack.save(update_fields=["last_heartbeat", "interfaces", "services", "service_reasons"])
    link_subnets(rack, interfaces)
    status = rack_status_for(rack, rack.last_heartbeat)
    rack_apply_status(rack, status)
    return status


def rack_regions(request_url: str) -> list[str]:
    """The region URLs a rack may use: REGION_URLS, else the URL the rack came in on."""
    return list(settings.REGION_URLS) or [request_url]


def rack_config(rack: RackController, now: datetime | None = None) -> dict:
    """The DHCP and boot configuration of a rack: the subnets of the VLANs it is active for."""
    now = now or timezone.now()
    subnets = list(Subnet.objects.filter(vlan__in=vlans_served_by(rack))
                   .select_related("vlan").prefetch_related("ipranges").order_by("cidr"))
    return {
        "rack": {"system_id": rack.system_id, "name": rack.name},
        "http_port": HTTP_BOOT_PORT,
        "dhcp": {
            "subnets": [_subnet_config(subnet) for subnet in subnets],
            "hosts": _hosts(subnets),
            "leases": _leases(subnets, now),
        },
    }


def config_etag(config: dict) -> str:
    """A strong ETag: the hash of the config's canonical JSON."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def _subnet_config(subnet: Subnet) -> dict:
    ranges = sorted(subnet.ipranges.all(), key=lambda r: netaddr.IPAddress(r.start_ip))
    return {
        "vlan": subnet.vlan.vid,
        "cidr": subnet.cidr,
        "gateway": subnet.gateway_ip,
        "dns_servers": list(subnet.dns_servers or []),
        "mtu": subnet.vlan.mtu,
        "lease_time": settings.DHCP_LEASE_TIME,
        "enlist_lease_time": settings.DHCP_ENLIST_LEASE_TIME,
        "allow_enlistment": subnet.allow_enlistment,
        "bios_boot_loader": subnet.bios_boot_loader,
        "dynamic_ranges": [{"start": r.start_ip, "end": r.end_ip}
                           for r in ranges if r.type == IPRangeType.DYNAMIC],
        "reserved_ranges": [{"start": r.start_ip, "end": r.end_ip}
                            for r in ranges if r.type == IPRangeType.RESERVED],
    }


def _hosts(subnets: list[Subnet]) -> list[dict]:
    addresses = StaticIPAddress.objects.filter(subnet__in=subnets, interface__isnull=False)
    # A bond's, bridge's or VLAN interface's address is reserved for the MAC it shows.
    rows = [{"mac": a.interface.effective_mac_address, "ip": a.ip,
             "hostname": a.interface.machine.hostname,
             "system_id": a.interface.machine.system_id}
            for a in addresses.select_related("interface__machine")]
    rows = [row for row in rows if row["mac"]]
    return sorted(rows, key=lambda row: netaddr.IPAddress(row["ip"]))


def _leases(subnets: list[Subnet], now: datetime) -> list[dict]:
    leases = DHCPLease.objects.filter(subnet__in=subnets, state=LeaseState.ACTIVE,
                                      expires__gt=now)
    rows = [{"mac": lease.mac, "ip": lease.ip, "expires": int(lease.expires.timestamp())}
            for lease in leases]
    return sorted(rows, key=lambda row: netaddr.IPAddress(row["ip"]))


def epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


@transaction.atomic
def leases_record(rack: RackController, leases: list[dict]) -> int:
    """Record a batch of leases (all or nothing); an active lease takes its address over."""
    subnets = list(Subnet.objects.all())
    resolved = []
    for index, lease in enumerate(leases):
        subnet = next((s for s in subnets if s.contains(lease["ip"])), None)
        if subnet is None:
            raise ValidationError({f"leases[{index}].ip": f"{lease['ip']} is in no known subnet."})
        resolved.append((lease, subnet))
    for lease, subnet in resolved:
        if lease["state"] == LeaseState.ACTIVE:
            DHCPLease.objects.filter(ip=lease["ip"], state=LeaseState.ACTIVE).exclude(
                mac=lease["mac"]).update(state=LeaseState.EXPIRED)
        DHCPLease.objects.update_or_create(
            ip=lease["ip"], mac=lease["mac"],
            defaults={"subnet": subnet, "hostname": lease.get("hostname") or "",
                      "expires": epoch(lease["expires"]), "rack": rack, "state": lease["state"]},
        )
    return len(resolved)


@transaction.atomic
def events_record(rack: RackController, events: list[dict]) -> dict:
    """Record boot-timeline events on the machine owning each MAC; unknown MACs are ignored."""
    macs = {event["mac"] for event in events}
    machines = {iface.mac_address: iface.machine for iface in
                Interface.objects.filter(mac_address__in=macs).select_related("machine")}
    recorded = 0
    for event in events:
        machine = machines.get(event["mac"])
        if machine is None:
            continue
        description = f"{event.get('description') or event['type']} (rack {rack.name})"
        warn = event.get("error") or event["type"] in WARNING_EVENT_TYPES
        level = EventLevel.WARNING if warn else EventLevel.INFO
        row = event_record(machine=machine, type=event["type"], description=description,
                           level=level)
        if event.get("time") is not None:
            Event.objects.filter(pk=row.pk).update(created=epoch(event["time"]))
        if event.get("firmware"):
            machine_firmware_seen(machine, event["firmware"])
        if event["type"] == "http_file" and event.get("error"):
            boot_transfer_broken(machine, event.get("path", ""), event["error"])
        recorded += 1
    return {"recorded": recorded, "ignored": len(events) - recorded}
