"""Reads for machines, events and jobs, shaped for the API (a fixed number of queries per page)."""
from collections import defaultdict

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from maasproject.permissions import is_admin
from nodes.choices import BlockDeviceType, NodeStatus, ResultType, ScriptStatus
from nodes.metadata.render import erase_job_spec, rescue_job_spec
from nodes.models import (
    BlockDevice,
    Event,
    Interface,
    InterfaceLink,
    Machine,
    MachineToken,
    Script,
    ScriptResult,
    ScriptSet,
    SSHKey,
)
from power.drivers.registry import get_registry

INTERFACE_FIELDS = ("id", "name", "type", "mac_address", "vlan", "enabled", "link_speed")
BLOCK_DEVICE_FIELDS = ("id", "name", "type", "size", "block_size", "model", "serial", "id_path",
                       "tags")


def machines_visible_to(user) -> QuerySet[Machine]:
    """Admins see every machine; users see unowned machines and their own (as in MAAS)."""
    queryset = Machine.objects.select_related("zone", "pool", "owner")
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(Q(owner__isnull=True) | Q(owner=user))


def load_hardware(machines: list[Machine]) -> list[Machine]:
    """Attach interfaces (with their links), block devices, tag names, addresses and the default
    gateway as plain rows: 4 queries for any page.

    Plain rows rather than prefetch_related: building model instances and per-machine
    querysets cost more than the SQL for a page of 100 machines.
    """
    ids = [machine.pk for machine in machines]
    interfaces, devices, tags = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in Interface.objects.filter(machine_id__in=ids).order_by("name").values(
            "machine_id", *INTERFACE_FIELDS):
        interfaces[row.pop("machine_id")].append(row)
    for row in BlockDevice.objects.filter(machine_id__in=ids).order_by("name").values(
            "machine_id", *BLOCK_DEVICE_FIELDS):
        devices[row.pop("machine_id")].append(row)
    through = Machine.tags.through.objects.filter(machine_id__in=ids)
    for machine_id, name in through.values_list("machine_id", "tag__name"):
        tags[machine_id].append(name)
    links = links_by_interface(ids)
    for machine in machines:
        for interface in interfaces[machine.pk]:
            interface["links"] = links[interface["id"]]
        machine.hardware = {
            "interfaces": interfaces[machine.pk],
            "block_devices": devices[machine.pk],
            "tag_names": sorted(tags[machine.pk]),
            **addresses_and_gateway(machine, interfaces[machine.pk]),
        }
    return machines


def links_by_interface(machine_ids: list[int]) -> dict[int, list[dict]]:
    """The links of these machines' interfaces as the API shows them, by interface id."""
    rows = InterfaceLink.objects.filter(interface__machine_id__in=machine_ids).order_by(
        "id").values("id", "interface_id", "mode", "address__ip", "subnet_id", "subnet__name",
                     "subnet__cidr", "subnet__vlan_id", "subnet__gateway_ip")
    links = defaultdict(list)
    for row in rows:
        subnet = None if row["subnet_id"] is None else {
            "id": row["subnet_id"], "name": row["subnet__name"], "cidr": row["subnet__cidr"],
            "vlan": row["subnet__vlan_id"], "gateway_ip": row["subnet__gateway_ip"]}
        links[row["interface_id"]].append({"id": row["id"], "mode": row["mode"],
                                           "ip_address": row["address__ip"], "subnet": subnet})
    return links


def addresses_and_gateway(machine: Machine, interfaces: list[dict]) -> dict:
    """The machine's assigned addresses (interface by name, then link order) and its default
    IPv4 gateway ({"gateway_ip", "link_id"}, both null when it has none)."""
    links = [link for interface in interfaces for link in interface["links"]]
    gateway = next((link for link in links if link["id"] == machine.gateway_link_ipv4_id), None)
    return {
        "ip_addresses": [link["ip_address"] for link in links if link["ip_address"]],
        "default_gateways": {"ipv4": {
            "gateway_ip": gateway["subnet"]["gateway_ip"] if gateway else None,
            "link_id": gateway["id"] if gateway else None}},
    }


def events_visible_to(user) -> QuerySet[Event]:
    """Admins see all events; users see events of machines they can see."""
    queryset = Event.objects.select_related("machine", "user")
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(
        Q(machine__owner__isnull=True, machine__isnull=False) | Q(machine__owner=user)
    )


# The script set a machine's runner works on, by the machine's status.
JOB_RESULT_TYPES = {NodeStatus.COMMISSIONING: ResultType.COMMISSIONING,
                    NodeStatus.TESTING: ResultType.TESTING,
                    NodeStatus.DEPLOYING: ResultType.DEPLOYMENT}


def job_script_set(machine: Machine) -> ScriptSet | None:
    """The machine's current job: its newest unfinished script set for its status, if any."""
    result_type = JOB_RESULT_TYPES.get(machine.status)
    if result_type is None:
        return None
    return ScriptSet.objects.filter(
        machine=machine, result_type=result_type, finished__isnull=True
    ).order_by("-created", "-id").first()


def job_pending_results(script_set: ScriptSet) -> list[ScriptResult]:
    """The results of a job still to run (a restarted runner skips those already ended)."""
    return list(script_set.results.filter(
        status__in=[ScriptStatus.PENDING, ScriptStatus.RUNNING]
    ).select_related("script").defer(*BLOB_FIELDS).order_by("script_name"))


def job_result(machine: Machine, result_id: int) -> ScriptResult:
    """A result of the machine's running job (ScriptResult.DoesNotExist for any other)."""
    return ScriptResult.objects.select_related("script").defer(*BLOB_FIELDS).get(
        pk=result_id, script_set__machine=machine, script_set__finished__isnull=True)


# Scripts and results ------------------------------------------------------------------------
BLOB_FIELDS = ("stdout", "stderr", "output", "result")
CURRENT_SET_ALIASES = {"current-commissioning": "commissioning", "current-testing": "testing",
                       "current-enlistment": "enlistment",
                       "current-deployment": "deployment"}


def scripts_filtered(*, script_type: str = "", hardware_type: str = "",
                     tags: list[str] | None = None) -> QuerySet[Script]:
    """Scripts by type and hardware type, having every tag listed (tags checked in Python:
    JSON containment is not portable to SQLite, and scripts are few)."""
    queryset = Script.objects.order_by("name")
    if script_type:
        queryset = queryset.filter(script_type=script_type)
    if hardware_type:
        queryset = queryset.filter(hardware_type=hardware_type)
    wanted = set(tags or [])
    if wanted:
        ids = [pk for pk, have in queryset.values_list("pk", "tags") if wanted <= set(have or [])]
        queryset = queryset.filter(pk__in=ids)
    return queryset


def script_sets_of(machine: Machine, result_type: str = "") -> QuerySet[ScriptSet]:
    """A machine's script sets, newest first, with their results (outputs deferred)."""
    queryset = machine.script_sets.order_by("-created", "-id").prefetch_related(
        Prefetch("results", queryset=ScriptResult.objects.defer(*BLOB_FIELDS).order_by(
            "script_name")))
    return queryset.filter(result_type=result_type) if result_type else queryset


def script_set_get(machine: Machine, key: str) -> ScriptSet | None:
    """A script set by id, or the latest of a type by alias (`current-commissioning`)."""
    if key in CURRENT_SET_ALIASES:
        return script_sets_of(machine, CURRENT_SET_ALIASES[key]).first()
    if not key.isdigit():
        return None
    return script_sets_of(machine).filter(pk=int(key)).first()


def commissioning_passed(machine: Machine) -> bool:
    """Whether the machine's latest commissioning script set ran and passed."""
    latest = script_sets_of(machine, ResultType.COMMISSIONING).first()
    results = list(latest.results.all()) if latest is not None else []
    return bool(results) and script_set_status(results) == ScriptStatus.PASSED


def script_set_status(results) -> str:
    """The status of a set from its results: running while any is not final, then the worst."""
    statuses = {result.status for result in results}
    if statuses and statuses == {ScriptStatus.PENDING}:
        return ScriptStatus.PENDING
    if statuses & {ScriptStatus.PENDING, ScriptStatus.RUNNING}:
        return ScriptStatus.RUNNING
    for status in (ScriptStatus.FAILED, ScriptStatus.TIMEDOUT, ScriptStatus.ABORTED):
        if status in statuses:
            return status
    return ScriptStatus.PASSED


def ssh_keys_visible_to(user) -> QuerySet[SSHKey]:
    """Admins see every user's SSH keys; users their own."""
    queryset = SSHKey.objects.select_related("user").order_by("user__username", "id")
    if is_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(user=user)


def machine_public_keys(machine: Machine) -> list[str]:
    """The SSH public keys to install on a machine: its owner's; without an owner, those of
    the user who put it in rescue mode (an admin: rescue tokens carry who asked)."""
    user_id = machine.owner_id
    if user_id is None:
        token = MachineToken.objects.filter(machine=machine, revoked__isnull=True,
                                            purpose="rescue").first()
        user_id = token.options.get("user") if token is not None else None
    if user_id is None:
        return []
    return list(SSHKey.objects.filter(user_id=user_id).order_by("id")
                .values_list("key", flat=True))


def erase_disks(machine: Machine) -> list[str]:
    """The disks the erase job erases: the commissioning inventory's physical disks by name
    (empty when there is no inventory: the job then erases every non-removable disk)."""
    return list(machine.block_devices.filter(type=BlockDeviceType.PHYSICAL).order_by("name")
                .values_list("name", flat=True))


def token_job_spec(machine: Machine, token: MachineToken) -> dict | None:
    """The job of a token that has no script set: the erase job of a Disk erasing machine, the
    rescue job of one entering (or in) rescue mode; None otherwise."""
    if token.purpose == "erase" and machine.status == NodeStatus.DISK_ERASING:
        return erase_job_spec(system_id=machine.system_id,
                              mode=token.options.get("mode", "full"),
                              fallback=token.options.get("secure_fallback", "full"),
                              disks=erase_disks(machine),
                              heartbeat_interval=settings.METADATA_HEARTBEAT_INTERVAL)
    if token.purpose == "rescue" and machine.status in (NodeStatus.ENTERING_RESCUE_MODE,
                                                        NodeStatus.RESCUE_MODE):
        return rescue_job_spec(system_id=machine.system_id)
    return None


def pollable_machines() -> QuerySet[Machine]:
    """Machines whose driver can query power, except Broken ones (as MAAS skips them)."""
    queryable = [driver.name for driver in get_registry().all() if driver.queryable]
    return Machine.objects.filter(power_type__in=queryable).exclude(status=NodeStatus.BROKEN)
