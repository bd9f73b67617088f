"""Power parameters: validated against the driver's schema, split by scope, secrets encrypted."""
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from maasproject.errors import FieldErrors
from power.drivers.base import PowerSettingsError
from power.drivers.registry import get_registry
from power.models import BMC
from power.secrets import decrypt_secrets, encrypt_secrets, redact

ADDRESS_FIELDS = ("power_address", "power_on_uri")


class PowerParametersInvalid(FieldErrors):
    """A power type or parameters the driver refused (HTTP 400, under `power_type` or
    `power_parameters`); the drivers' PowerSettingsError, as the region's API reports it."""

    def body(self) -> dict:
        if "power_type" in self.errors:
            return {"power_type": self.errors["power_type"]}
        return {"power_parameters": self.errors}


def driver_for(power_type: str):
    """The driver class of a power type (PowerSettingsError for an unknown one)."""
    return get_registry().get(power_type)


def clean_power_parameters(
    power_type: str, params: dict[str, Any], existing: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate params for a power type; return (bmc-scope, node-scope), secrets encrypted.

    Secrets are write-only, so a client cannot send them back: a secret left out keeps the
    value already stored for the same power type.
    """
    driver = driver_for(power_type)
    secrets = driver.secret_fields()
    kept = {k: v for k, v in (existing or {}).items() if k in secrets and k not in params}
    merged = {**decrypt_secrets(kept), **params}
    cleaned = driver.validate_settings(merged)
    scopes = {f.name: f.scope for f in driver.settings}
    encrypted = encrypt_secrets(cleaned, secrets)
    bmc = {k: v for k, v in encrypted.items() if scopes[k] == "bmc"}
    node = {k: v for k, v in encrypted.items() if scopes[k] == "node"}
    return bmc, node


def bmc_address(params: dict[str, Any]) -> str:
    """The host a BMC listens on, from its address parameter (for choosing a rack)."""
    for name in ADDRESS_FIELDS:
        value = str(params.get(name) or "")
        if value:
            host = urlsplit(value if "//" in value else f"//{value}").hostname
            return host or ""
    return ""


@transaction.atomic
def machine_set_power(machine, power_type: str, params: dict[str, Any]) -> None:
    """Set a machine's power type and parameters; machines with the same BMC share its record.

    The BMC is found by power type and address (as MAAS dedupes BMCs), so the machines of a
    chassis point at one record. The caller saves the machine.
    """
    existing = {}
    if machine.bmc_id and machine.power_type == power_type:
        existing = {**machine.bmc.power_parameters, **machine.power_parameters}
    try:
        bmc_params, node_params = clean_power_parameters(power_type, params, existing)
    except PowerSettingsError as exc:
        raise PowerParametersInvalid(exc.errors) from exc
    machine.power_type = power_type
    machine.power_parameters = node_params
    if not driver_for(power_type).settings:
        machine.bmc = None
        return
    address = bmc_address(bmc_params)
    bmc = BMC.objects.filter(power_type=power_type, address=address).first() if address else None
    if bmc is None:
        bmc = BMC(power_type=power_type, address=address)
    bmc.power_parameters = bmc_params
    bmc.save()
    machine.bmc = bmc


def machine_power_parameters(machine, *, reveal: bool = False) -> dict[str, Any]:
    """A machine's merged power parameters: redacted, or in clear for a rack task message."""
    params = {**(machine.bmc.power_parameters if machine.bmc else {}), **machine.power_parameters}
    if reveal:
        return decrypt_secrets(params)
    try:
        secrets = driver_for(machine.power_type).secret_fields()
    except PowerSettingsError:
        secrets = frozenset()
    return redact(params, secrets)
