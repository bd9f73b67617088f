"""Boot decision reads: what a machine netbooting with a given MAC should do now.

Unknown MACs enlist only if the asking rack is connected to a subnet that allows enlistment
(the rack does not say which subnet the request came from, so any of its subnets counts);
otherwise they boot locally: a device the region does not manage is never powered off.
"""
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction

from nodes.choices import NodeStatus
from nodes.models import Interface, Machine
from nodes.models.hardware import normalise_mac
from nodes.services.tokens import token_active
from zones.models import RackController, Subnet

ACTION_BY_STATUS = {
    NodeStatus.COMMISSIONING: "commission",
    NodeStatus.TESTING: "commission",
    NodeStatus.DEPLOYING: "deploy",
    NodeStatus.DISK_ERASING: "erase",
    NodeStatus.ENTERING_RESCUE_MODE: "rescue",
    NodeStatus.RESCUE_MODE: "rescue",
}
DEFAULT_ARCH = "amd64/generic"


def region_url(request_url: str = "") -> str:
    """The URL machines reach the region at: REGION_URL, else the URL the rack used."""
    url = settings.REGION_URL or _main_listener(request_url)
    return url if url.endswith("/") else url + "/"


def _main_listener(url: str) -> str:
    """The URL on the main listener's port when it came through the rack listener, which
    serves no metadata API (README, "Processes and ports")."""
    if settings.REGION_LISTENER != "rack" or not url:
        return url
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return urlunsplit(parts._replace(netloc=f"{host}:{settings.REGION_PORT}"))


def machine_action(machine: Machine) -> str:
    """The boot action for a known machine, from its status and netboot flag."""
    if machine.status == NodeStatus.DEPLOYING and not machine.netboot:
        return "local"  # the image is on the disk: the deployed OS boots and reports in
    if (machine.status == NodeStatus.EXITING_RESCUE_MODE
            and machine.previous_status == NodeStatus.DEPLOYED):
        return "local"  # leaving rescue mode: back to the deployed OS on its disk
    action = ACTION_BY_STATUS.get(machine.status)
    if action:
        return action
    if machine.status == NodeStatus.DEPLOYED or not machine.netboot:
        return "local"
    return "poweroff"


def enlistment_allowed(rack: RackController | None) -> bool:
    """Whether an unknown machine may enlist through `rack` (any rack when None)."""
    subnets = rack.subnets.all() if rack is not None else Subnet.objects.all()
    return subnets.filter(allow_enlistment=True).exists()


def boot_decision(mac: str, rack: RackController | None = None, request_url: str = "") -> dict:
    """The boot decision for a MAC (raises ValidationError for a malformed MAC)."""
    mac = normalise_mac(mac)
    interface = Interface.objects.filter(mac_address=mac).first()
    url = region_url(request_url)
    if interface is None:
        action = "enlist" if enlistment_allowed(rack) else "local"
        return _decision(mac, action, None, url)
    with transaction.atomic():
        # An action sends its power on before it commits (nodes.services.power), and a quick
        # boot asks before the commit: wait for the action's row lock, read what it decided.
        machine = Machine.objects.select_for_update(no_key=True).get(pk=interface.machine_id)
        return _decision(mac, machine_action(machine), machine, url)


def _decision(mac: str, action: str, machine: Machine | None, url: str) -> dict:
    arch = machine.architecture if machine and machine.architecture else DEFAULT_ARCH
    decision = {
        "mac": mac, "action": action,
        "system_id": machine.system_id if machine else "",
        "hostname": machine.hostname if machine else "",
        "arch": arch, "kernel": "", "initrd": "", "kernel_params": "",
    }
    if action == "local":
        return decision
    base = f"images/ephemeral/{arch.split('/')[0]}"
    decision.update(kernel=f"{base}/linux", initrd=f"{base}/initrd.gz",
                    kernel_params=kernel_params(machine, url))
    return decision


def kernel_params(machine: Machine | None, url: str) -> str:
    """console, region URL, system id, job token, then the kernel options of the machine's tags.

    The token is there only while a job runs (the config is rendered live for each boot).
    """
    params = ["console=ttyS0", f"metal.region={url}"]
    if machine is not None:
        params.append(f"metal.system_id={machine.system_id}")
        token = token_active(machine)
        if token is not None:
            params.append(f"metal.token={token.key}")
        params += [tag.kernel_opts.strip() for tag in machine.tags.order_by("name")
                   if tag.kernel_opts.strip()]
    return " ".join(params)
