"""Chassis (region side): validate an add-chassis request and send its discovery to a rack.

What the rack finds becomes machines in nodes.services.chassis (the machine lifecycle is
nodes' business); this module knows chassis types, their drivers' parameters and racks. The
chassis' BMC-scope parameters travel to the rack sealed with its key, as power requests do,
and once more encrypted with the region's own key in the request's `context`, which the rack
hands back untouched: the region sets them on the machines it creates without keeping any
record of the request in between.
"""
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import Conflict, FieldErrors
from maasproject.permissions import require_admin
from maasproject.validators import validate_name
from nodes.choices import EventLevel
from nodes.models import Event
from power.drivers.base import PowerSettingsError
from power.drivers.chassis import chassis_types
from power.secrets import encrypt_secrets
from power.services.parameters import bmc_address, driver_for
from rack_worker.client import choose_chassis_rack, enqueue_chassis
from zones.models import ResourcePool, Zone
from zones.selectors import healthy_racks

# The add-chassis fields (MAAS's names) -> the driver parameter each one fills, when the
# chassis type's driver has it (a virsh chassis has no user: MAAS ignores one given).
CHASSIS_PARAMETERS = {"hostname": "power_address", "username": "power_user",
                      "password": "power_pass"}
API_NAMES = {parameter: name for name, parameter in CHASSIS_PARAMETERS.items()}
# The one DNS domain machines are named in (this region serves no DNS), by name or id.
DEFAULT_DOMAINS = ("maas", "0")


class NoRackForChassis(Conflict):
    """No healthy rack controller can run the discovery (HTTP 409): nothing was sent.

    Not a 503: the region is up and answers; it is the racks' state that refuses, as a
    machine's status refuses an action.
    """


@dataclass(frozen=True)
class ChassisRequest:
    """A chassis discovery sent to a rack: what was asked (never the password) and where."""

    request_id: str
    chassis_type: str
    hostname: str
    rack: str
    prefix_filter: str = ""
    accept_all: bool = False
    domain: str = "maas"
    zone: str = ""
    pool: str = ""


def chassis_add(user, chassis_type: str, hostname: str, username: str = "",
                password: str = "", *, prefix_filter: str = "", accept_all: bool = False,
                domain: str | None = None, zone: str | None = None,
                pool: str | None = None) -> ChassisRequest:
    """Validate, write an Event and send the discovery to a rack that can reach the chassis.

    Bad input raises FieldErrors (HTTP 400, under the add-chassis field names) and saves
    nothing. The message is sent as the transaction's last step, as power requests are
    (nodes.services.power.dispatch_power says why): a broker that cannot take it rolls the
    Event back and the client gets a 503, instead of an Event for a discovery never sent.
    """
    require_admin(user, "add a chassis")
    names = {"hostname": hostname, "username": username, "prefix_filter": prefix_filter,
             "domain": domain, "zone": zone, "pool": pool}
    params, zone_obj, pool_obj = _validated(chassis_type, password, names)
    with transaction.atomic():
        rack = choose_chassis_rack(bmc_address(params), healthy_racks())
        if rack is None:
            raise NoRackForChassis("No healthy rack controller can reach the chassis: start "
                                       "or repair a rack, then ask again.")
        chassis = ChassisRequest(
            request_id=uuid.uuid4().hex, chassis_type=chassis_type, hostname=hostname,
            rack=rack.name, prefix_filter=prefix_filter, accept_all=accept_all,
            zone=zone_obj.name if zone_obj else "", pool=pool_obj.name if pool_obj else "")
        Event.objects.create(
            machine=None, hostname=hostname, type="chassis_add", level=EventLevel.INFO,
            user=user if user is not None and user.is_authenticated else None,
            description=f"Asking {rack.name} to add machines from {chassis_type} chassis "
                        f"{hostname}")
        enqueue_chassis(_request(chassis, params, user), rack)
    return chassis


def _validated(chassis_type: str, password: str, names: dict[str, str | None]) -> tuple:
    """(the driver's cleaned parameters, zone, pool), or FieldErrors with every error."""
    errors = _control_characters(names)
    if errors:  # refused before any query: PostgreSQL cannot even compare a NUL
        raise FieldErrors(errors)
    params, errors = _chassis_parameters(chassis_type, names["hostname"] or "",
                                         names["username"] or "", password)
    zone, pool = _placement(names["zone"], names["pool"], errors)
    if (names["domain"] or "").strip() not in ("", *DEFAULT_DOMAINS):
        errors["domain"] = [f"Unknown domain {names['domain']!r}; this region has one: maas."]
    if errors:
        raise FieldErrors(errors)
    return params, zone, pool


def _control_characters(values: dict[str, str | None]) -> dict[str, list[str]]:
    errors = {}
    for field, value in values.items():
        try:
            validate_name(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    return errors


def _chassis_parameters(chassis_type: str, hostname: str, username: str,
                        password: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The chassis type's BMC-scope parameters, cleaned by its driver, and field errors."""
    if chassis_type not in chassis_types():
        return {}, {"chassis_type": [
            f"Unknown chassis type {chassis_type!r}; one of {', '.join(chassis_types())}."]}
    try:
        driver = driver_for(chassis_type)
    except PowerSettingsError:
        return {}, {"chassis_type": [f"No power driver is registered for {chassis_type}."]}
    errors = {} if hostname else {"hostname": ["This field is required."]}
    if len(hostname) > 255:  # it names the chassis in events
        errors["hostname"] = ["Enter at most 255 characters."]
    names = {field.name for field in driver.settings}
    given = {"hostname": hostname, "username": username, "password": password}
    params = {CHASSIS_PARAMETERS[key]: value for key, value in given.items()
              if value and CHASSIS_PARAMETERS[key] in names}
    try:
        return driver.validate_settings(params, scope="bmc"), errors
    except PowerSettingsError as exc:
        errors.update({API_NAMES.get(k, k): v for k, v in exc.errors.items()})
        return {}, errors


def _placement(zone: str | None, pool: str | None, errors: dict) -> tuple:
    """The named zone and pool (None: the machine's defaults); unknown names are field errors."""
    found = []
    for field, model, name in (("zone", Zone, zone), ("pool", ResourcePool, pool)):
        obj = model.objects.filter(name=name).first() if name else None
        if name and obj is None:
            errors[field] = [f"Unknown {field} {name!r}."]
        found.append(obj)
    return tuple(found)


def _request(chassis: ChassisRequest, params: dict[str, Any], user) -> dict[str, Any]:
    """The rack task message; `context` is for the region that records the outcome."""
    secrets = driver_for(chassis.chassis_type).secret_fields()
    context = {
        "user_id": user.pk if user is not None else None,
        "prefix_filter": chassis.prefix_filter, "accept_all": chassis.accept_all,
        "domain": chassis.domain, "zone": chassis.zone, "pool": chassis.pool,
        "bmc_params": encrypt_secrets(params, secrets),
    }
    return {"request_id": chassis.request_id, "chassis_type": chassis.chassis_type,
            "hostname": chassis.hostname, "address": bmc_address(params), "params": params,
            "secret_fields": sorted(secrets), "context": context}
