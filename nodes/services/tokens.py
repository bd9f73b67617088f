"""Per-machine metadata tokens: issued when a job starts, revoked when it ends, checked per call."""
import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from maasproject.errors import ServiceError
from nodes.models import Machine, MachineToken
from nodes.models.hardware import normalise_mac
from zones.choices import LeaseState
from zones.models import DHCPLease, StaticIPAddress

# The deployed OS's credential (its cloud-init's MAAS datasource): from deploy to release,
# not a job's, so ending a job leaves it alone and it never opens the ephemeral metadata API.
OS_PURPOSE = "os"


class TokenInvalid(ServiceError):
    """An unknown, revoked or malformed machine token (HTTP 401)."""


def _job_tokens():
    return MachineToken.objects.exclude(purpose=OS_PURPOSE)


def token_issue(machine: Machine, purpose: str, options: dict | None = None) -> MachineToken:
    """A new active token for the machine's job; every earlier token is revoked.

    `options` is what a job without script sets was asked to do (erase: its mode).
    """
    token_revoke(machine)
    return MachineToken.objects.create(machine=machine, purpose=purpose, options=options or {})


def token_revoke(machine: Machine) -> int:
    """Revoke the machine's active job tokens; return how many there were."""
    return _job_tokens().filter(machine=machine, revoked__isnull=True).update(
        revoked=timezone.now()
    )


def token_active(machine: Machine) -> MachineToken | None:
    """The machine's active token, if a job is running."""
    return _job_tokens().filter(machine=machine, revoked__isnull=True).first()


def token_authenticate(system_id: str, key: str, address: str) -> MachineToken:
    """The active token of `system_id` matching `key`, used from one of the machine's own
    addresses (machine_uses_address); else TokenInvalid."""
    if not system_id or not key:
        raise TokenInvalid("Missing machine token.")
    tokens = _job_tokens().select_related("machine").filter(
        machine__system_id=system_id, revoked__isnull=True
    )
    for token in tokens:
        if token.matches(key):
            if not machine_uses_address(token.machine, address):
                raise TokenInvalid(f"This machine token is not valid from {address}: it works "
                                   "only from an address leased or assigned to the machine.")
            return token
    raise TokenInvalid("Invalid or revoked machine token.")


def os_token_issue(machine: Machine) -> MachineToken:
    """A new credential for the OS being deployed; the one of an earlier deploy is revoked."""
    os_token_revoke(machine)
    return MachineToken.objects.create(machine=machine, purpose=OS_PURPOSE)


def _os_tokens(machine: Machine):
    return MachineToken.objects.filter(machine=machine, purpose=OS_PURPOSE, revoked__isnull=True)


def os_token_revoke(machine: Machine) -> int:
    """Revoke the deployed OS's credential (release); return how many there were."""
    return _os_tokens(machine).update(revoked=timezone.now())


def os_token_active(machine: Machine) -> MachineToken | None:
    """The deployed OS's credential, while it has one (from deploy to release)."""
    return _os_tokens(machine).select_related("machine").first()


def os_credentials(token: MachineToken) -> dict[str, str]:
    """The OAuth credentials the deployed OS's cloud-init signs with (MAAS's three parts; the
    consumer secret is empty): the token key is the nonce, the secret is derived from it."""
    return {"consumer_key": token.machine.system_id, "token_key": token.nonce,
            "token_secret": token.key}


def os_token_authenticate(consumer_key: str, token_key: str, secret: str) -> MachineToken:
    """The active deployed-OS credential these OAuth parts name; else TokenInvalid."""
    token = MachineToken.objects.select_related("machine").filter(
        purpose=OS_PURPOSE, revoked__isnull=True, nonce=token_key).first()
    if token is None or token.machine.system_id != consumer_key or not token.matches(secret):
        raise TokenInvalid("Invalid or revoked credentials.")
    return token


def machine_uses_address(machine: Machine, address: str) -> bool:
    """Whether `address` is the machine's: a rack leased it to one of its MACs, or it is assigned
    to one of its interfaces. A token read from a boot config (served to anyone who asks) is
    then useless elsewhere. METADATA_TOKEN_SOURCES=any turns the check off (machines behind NAT).
    """
    if settings.METADATA_TOKEN_SOURCES == "any":
        return True
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:  # PostgreSQL refuses to compare an inet with anything else
        return False
    macs = machine.interfaces.values_list("mac_address", flat=True)
    return (DHCPLease.objects.filter(ip=address, mac__in=macs, state=LeaseState.ACTIVE).exists()
            or StaticIPAddress.objects.filter(ip=address, interface__machine=machine).exists())


def mac_uses_address(mac: str, address: str) -> bool:
    """Whether a rack leased `address` to `mac` (the proof a machine without a token gives)."""
    if settings.METADATA_TOKEN_SOURCES == "any":
        return True
    try:
        mac, address = normalise_mac(mac), str(ipaddress.ip_address(address))
    except (ValidationError, ValueError):
        return False
    return DHCPLease.objects.filter(ip=address, mac=mac, state=LeaseState.ACTIVE).exists()
