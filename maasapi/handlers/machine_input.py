"""Reading MAAS machine parameters into what the services take, with the /api/v1/ checks.

Fields are validated by the same serializer /api/v1/ uses (nodes.api.serializers), so a rule
about hostnames, MACs, architectures, zones or power settings is written once.
"""
from maasapi.errors import BadRequest, NotFound
from nodes.api.serializers import MachineWriteSerializer
from nodes.models import Machine
from nodes.selectors import machines_visible_to

SCALAR_FIELDS = ("hostname", "description", "architecture", "cpu_count", "cpu_speed",
                 "memory", "zone", "pool", "power_type")
# MAAS takes "amd64/generic"; deploy and commission options it knows but this region does not
# act on (hwe_kernel, install_kvm...) are accepted and ignored, as MAAS ignores unknown fields.


def machine_fields(params, *, partial: bool, instance: Machine | None = None) -> dict:
    """The validated fields of a create (partial False) or update; 400 by field if wrong."""
    data = {name: params.get(name) for name in SCALAR_FIELDS if name in params}
    macs = params.list("mac_addresses")
    if macs:
        data["mac_addresses"] = macs
    power = params.power_parameters()
    if power:
        data["power_parameters"] = power
    checked = MachineWriteSerializer(instance, data=data, partial=partial)
    if not checked.is_valid():
        raise BadRequest.fields(_flatten(checked.errors))
    return dict(checked.validated_data)


def _flatten(errors) -> dict[str, list[str]]:
    """DRF's errors (lists, or dicts by list index) as MAAS's {"field": ["message", ...]}."""
    flat = {}
    for name, value in errors.items():
        if isinstance(value, dict):
            value = [str(message) for messages in value.values() for message in messages]
        flat[name] = [str(message) for message in value]
    return flat


def visible_machine(user, system_id: str) -> Machine:
    """The machine if `user` may see it, else 404 as MAAS words it."""
    machine = machines_visible_to(user).filter(system_id=system_id).first()
    if machine is None:
        raise NotFound("No Machine matches the given query.")
    return machine


def release_options(params) -> dict:
    """erase, quick_erase, secure_erase (MAAS's booleans) and comment for machine_release,
    which resolves a missing `erase`; quick or secure erase alone means erase, as MAAS clients
    expect."""
    quick, secure = params.boolean("quick_erase"), params.boolean("secure_erase")
    erase = True if (quick or secure) else params.boolean("erase", None)
    return {"erase": erase, "quick_erase": quick, "secure_erase": secure,
            "comment": params.text("comment")}


def script_names(params, name: str) -> list[str] | None:
    """A comma-separated script list; None when not given (the defaults), [] for `none`."""
    value = params.get(name)
    if value is None or value == "":
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    return [] if names == ["none"] else names
