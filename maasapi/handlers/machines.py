"""machines/: list (MAAS returns every machine, no paging), create, allocate, bulk release."""
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse

from maasapi.errors import BadRequest
from maasapi.framework import Handler, operation
from maasapi.handlers.machine_input import machine_fields, release_options
from maasapi.objects import machine_object, machine_objects
from maasproject.permissions import require_admin
from nodes.choices import NodeStatus
from nodes.models.hardware import normalise_mac
from nodes.selectors import machines_visible_to
from nodes.selectors.allocation import AllocationConstraints
from nodes.services import actions, machines
from nodes.services.allocation import machine_allocate
from power.services.chassis import chassis_add
from power.services.parameters import machine_power_parameters

STATUS_BY_NAME = {label.lower().replace(" ", "_"): value for value, label in NodeStatus.choices}


class MachinesHandler(Handler):
    """Manage the collection of all the machines in the MAAS."""

    name = "MachinesHandler"
    path = "machines/"

    def read(self, request, params):
        """List machines (all at once, as MAAS does), filtered by any of these, each repeatable.

        :param hostname: Only machines with this hostname.
        :type hostname: String
        :param id: Only machines with this system id.
        :type id: String
        :param mac_address: Only machines with an interface of this MAC.
        :type mac_address: String
        :param zone: Only machines in this zone.
        :type zone: String
        :param pool: Only machines in this pool.
        :type pool: String
        :param status: Only machines in this status (e.g. ready, deployed, failed_testing).
        :type status: String
        :param arch: Only machines of this architecture.
        :type arch: String
        :param tags: Only machines with every one of these tags.
        :type tags: String
        """
        queryset = machines_visible_to(request.user).order_by("id")
        return machine_objects(_filtered(queryset, params))

    def create(self, request, params):
        """Create a machine (administrators); it commissions at once unless commission=false.

        :param architecture: Required: e.g. amd64/generic.
        :type architecture: String
        :param mac_addresses: Required, repeatable: its boot interfaces' MACs.
        :type mac_addresses: String
        :param hostname: Optional: generated when not given.
        :type hostname: String
        :param power_type: e.g. ipmi, redfish, webhook, manual, fake.
        :type power_type: String
        :param power_parameters: A JSON object, or power_parameters_<name> fields.
        :type power_parameters: String
        :param commission: Commission after creating (default true).
        :type commission: Boolean
        """
        if not params.list("mac_addresses"):
            raise BadRequest.fields({"mac_addresses": ["This field is required."]})
        if "architecture" not in params:
            raise BadRequest.fields({"architecture": ["This field is required."]})
        with transaction.atomic():  # created and commissioning, or nothing
            machine = machines.machine_create(request.user,
                                              **machine_fields(params, partial=False))
            if params.boolean("commission", True):
                actions.machine_commission(machine.system_id, request.user)
        return machine_object(machine)

    @operation(idempotent=False)
    def allocate(self, request, params):
        """Allocate the smallest Ready machine matching the constraints to you.

        :param name: Hostname of the machine wanted.
        :type name: String
        :param system_id: System id of the machine wanted.
        :type system_id: String
        :param arch: Architecture (repeatable).
        :type arch: String
        :param cpu_count: Minimum number of CPU cores.
        :type cpu_count: Int
        :param mem: Minimum memory in MiB.
        :type mem: Int
        :param tags: Tags the machine must have (repeatable or comma-separated).
        :type tags: String
        :param not_tags: Tags the machine must not have.
        :type not_tags: String
        :param zone: Zone the machine must be in.
        :type zone: String
        :param not_in_zone: Zones the machine must not be in.
        :type not_in_zone: String
        :param pool: Pool the machine must be in.
        :type pool: String
        :param not_in_pool: Pools the machine must not be in.
        :type not_in_pool: String
        :param dry_run: Only say which machine would be allocated.
        :type dry_run: Boolean
        :param comment: A comment for the event log.
        :type comment: String
        """
        machine = machine_allocate(request.user, _constraints(params),
                                   dry_run=params.boolean("dry_run"),
                                   comment=params.text("comment"))
        # Which interfaces and disks matched labelled constraints: none are supported here,
        # but gomaasapi requires the map.
        return {**machine_object(machine), "constraints_by_type": {}}

    @operation(idempotent=False)
    def release(self, request, params):
        """Release several machines: all of them, or none when one cannot be released.

        :param machines: System ids of the machines (repeatable).
        :type machines: String
        :param comment: A comment for the event log.
        :type comment: String
        """
        system_ids = params.list("machines")
        options = release_options(params)
        with transaction.atomic():
            for system_id in system_ids:
                actions.machine_release(system_id, request.user, **options)
        return system_ids

    @operation(idempotent=False)
    def add_chassis(self, request, params):
        """Add every machine behind a chassis controller (administrators): a rack discovers them.

        :param chassis_type: Required: redfish or virsh.
        :type chassis_type: String
        :param hostname: Required: the chassis' address (host[:port], URL or libvirt URI).
        :type hostname: String
        :param username: The chassis' user.
        :type username: String
        :param password: The chassis' password.
        :type password: String
        :param prefix_filter: Add only the systems whose name starts with this.
        :type prefix_filter: String
        :param accept_all: Commission the new machines at once.
        :type accept_all: Boolean
        :param domain: The domain of the new machines.
        :type domain: String
        :param zone: The zone of the new machines.
        :type zone: String
        :param pool: The resource pool of the new machines.
        :type pool: String
        """
        require_admin(request.user, "add a chassis")  # a 403 before any 400
        required = {name: ["This field is required."] for name in ("chassis_type", "hostname")
                    if not params.text(name)}
        if required:
            raise BadRequest.fields(required)
        chassis = chassis_add(
            request.user, params.text("chassis_type"), params.text("hostname"),
            params.text("username"), params.text("password"),
            prefix_filter=params.text("prefix_filter"),
            accept_all=bool(params.boolean("accept_all")), domain=params.get("domain"),
            zone=params.get("zone") or None, pool=params.get("pool") or None)
        return HttpResponse(f"Asking {chassis.rack} to add machines from chassis "
                            f"{chassis.hostname}", content_type="text/plain; charset=utf-8")

    @operation(idempotent=True)
    def power_parameters(self, request, params):
        """Power parameters of machines by system id (administrators; secrets masked).

        :param id: System ids (repeatable); every machine when none.
        :type id: String
        """
        require_admin(request.user, "read power parameters")
        queryset = machines_visible_to(request.user).select_related("bmc")
        if params.list("id"):
            queryset = queryset.filter(system_id__in=params.list("id"))
        return {m.system_id: machine_power_parameters(m) for m in queryset}


def _filtered(queryset, params):
    """Apply MAAS's list filters; an unknown status is a field error."""
    filters = {"hostname": "hostname__in", "id": "system_id__in", "zone": "zone__name__in",
               "pool": "pool__name__in", "arch": "architecture__in"}
    for name, lookup in filters.items():
        if params.list(name):
            queryset = queryset.filter(**{lookup: params.list(name)})
    if params.list("mac_address"):
        macs = [_mac(value) for value in params.list("mac_address")]
        queryset = queryset.filter(interfaces__mac_address__in=macs).distinct()
    if params.list("status"):
        queryset = queryset.filter(status__in=[_status(value) for value in params.list("status")])
    for tag in params.list("tags"):
        queryset = queryset.filter(Q(tags__name=tag))
    return queryset


def _status(value: str) -> int:
    key = value.strip().lower().replace(" ", "_")
    if key.isdigit() and int(key) in dict(NodeStatus.choices):
        return int(key)
    if key not in STATUS_BY_NAME:
        raise BadRequest.fields({"status": [f"Unknown status {value!r}."]})
    return STATUS_BY_NAME[key]


def _mac(value: str) -> str:
    try:
        return normalise_mac(value)
    except Exception:  # noqa: BLE001 - any parse failure is the same field error
        raise BadRequest.fields({"mac_address": [f"{value!r} is not a MAC address."]}) from None


def _constraints(params) -> AllocationConstraints:
    """MAAS allocation parameters (libmaas sends not_in_zones) as the service's constraints."""
    return AllocationConstraints(
        name=params.text("name").split(".")[0], system_id=params.text("system_id"),
        arch=tuple(params.list("arch")), cpu_count=params.integer("cpu_count"),
        mem=params.integer("mem"), tags=_names(params, "tags"),
        not_tags=_names(params, "not_tags"), zone=params.text("zone"),
        not_in_zone=_names(params, "not_in_zone") + _names(params, "not_in_zones"),
        pool=params.text("pool"), not_in_pool=_names(params, "not_in_pool"))


def _names(params, name: str) -> tuple[str, ...]:
    return tuple(part for value in params.list(name) for part in value.replace(",", " ").split())
