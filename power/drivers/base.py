"""Power driver base: settings schema, capability flags, error classes, the driver interface."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

FIELD_TYPES = ("string", "password", "choice", "int", "bool", "mac")
SCOPES = ("bmc", "node")
POWER_ON, POWER_OFF = "on", "off"
POWER_STATES = (POWER_ON, POWER_OFF)
OFF_MODES = ("soft", "hard")
BOOT_DEVICES = ("pxe", "disk")
_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)
_TRUE = ("true", "1", "yes", "on", "y")
_FALSE = ("false", "0", "no", "off", "n", "")


class PowerError(Exception):
    """Base of every power driver error."""

    retryable: ClassVar[bool] = False


class PowerFatalError(PowerError):
    """Retrying will not help: bad credentials, bad settings, unsupported operation."""


class PowerAuthError(PowerFatalError):
    """The BMC refused the credentials."""


class PowerSettingsError(PowerFatalError):
    """The driver's parameters are invalid; `errors` maps field name to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(errors.items())))


class PowerUnsupportedError(PowerFatalError):
    """The driver or BMC cannot do this operation."""


class PowerRetryableError(PowerError):
    """A transient failure: connection refused or lost, timeout, BMC busy."""

    retryable = True


class PowerConnectionError(PowerRetryableError):
    """The BMC could not be reached."""


class PowerTimeoutError(PowerRetryableError):
    """The BMC did not answer in time."""


@dataclass(frozen=True)
class SettingField:
    """One parameter of a driver, described so UIs and CLIs can build forms."""

    name: str
    label: str
    type: str = "string"
    required: bool = False
    default: Any = None
    choices: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    secret: bool = False
    scope: str = "bmc"
    min_value: int | None = None
    max_value: int | None = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"Unknown field type {self.type!r} for {self.name}")
        if self.scope not in SCOPES:
            raise ValueError(f"Unknown scope {self.scope!r} for {self.name}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"Choice field {self.name} has no choices")
        if self.type == "password" and not self.secret:
            object.__setattr__(self, "secret", True)  # a password is always a secret

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description of the field."""
        data = asdict(self)
        data["choices"] = [list(choice) for choice in self.choices]
        return data

    def clean(self, value: Any) -> Any:
        """Return the value converted to this field's type, or raise ValueError.

        Error messages never repeat the value: it may be a secret.
        """
        if self.type == "int":
            return self._clean_int(value)
        if self.type == "bool":
            return _clean_bool(value)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("Enter text.")
        text = str(value)
        if self.type == "choice" and text not in {key for key, _ in self.choices}:
            raise ValueError(f"Choose one of: {', '.join(key for key, _ in self.choices)}.")
        if self.type == "mac" and text:
            if not _MAC.match(text):
                raise ValueError("Enter a MAC address like 52:54:00:12:34:56.")
            return text.lower().replace("-", ":")
        return text

    def _clean_int(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("Enter a whole number.")
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError("Enter a whole number.") from exc
        if self.min_value is not None and number < self.min_value:
            raise ValueError(f"Enter a number of at least {self.min_value}.")
        if self.max_value is not None and number > self.max_value:
            raise ValueError(f"Enter a number of at most {self.max_value}.")
        return number


def _clean_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("Enter true or false.")


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def validate_settings(
    fields: tuple[SettingField, ...], params: dict[str, Any], *, scope: str | None = None
) -> dict[str, Any]:
    """Return cleaned parameters with defaults, or raise PowerSettingsError with field errors.

    With `scope`, only that scope's fields are cleaned and returned; parameters that belong to
    another scope are ignored, parameters that no field knows are always errors. A missing or
    blank value takes the field's default.
    """
    if not isinstance(params, dict):
        raise PowerSettingsError({"power_parameters": ["Expected an object."]})
    known = {f.name for f in fields}
    errors: dict[str, list[str]] = {
        str(name): ["Unknown parameter."] for name in params if name not in known
    }
    cleaned: dict[str, Any] = {}
    for spec in fields:
        if scope is not None and spec.scope != scope:
            continue
        value = params.get(spec.name)
        if _is_blank(value) and spec.default is not None:
            value = spec.default
        if _is_blank(value):
            if spec.required:
                errors[spec.name] = ["This field is required."]
            continue
        try:
            cleaned[spec.name] = spec.clean(value)
        except ValueError as exc:
            errors[spec.name] = [str(exc)]
    if errors:
        raise PowerSettingsError(errors)
    return cleaned


class PowerDriver(ABC):
    """A BMC protocol. Drivers are pure: parameters in, result out, no database."""

    name: ClassVar[str]
    description: ClassVar[str]
    settings: ClassVar[tuple[SettingField, ...]] = ()
    queryable: ClassVar[bool] = True
    can_set_boot_device: ClassVar[bool] = False

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = self.validate_settings(params)
        # What the operator should know although the operation succeeded (WARNING Events).
        self.notes: list[str] = []

    @classmethod
    def validate_settings(cls, params: dict[str, Any], *, scope: str | None = None) -> dict:
        """Clean `params` against this driver's schema, then its own cross-field checks."""
        cleaned = validate_settings(cls.settings, params, scope=scope)
        errors = cls.check_settings(cleaned)
        if errors:
            raise PowerSettingsError(errors)
        return cleaned

    @classmethod
    def check_settings(cls, cleaned: dict[str, Any]) -> dict[str, list[str]]:
        """Driver-specific checks of cleaned values (maybe one scope only); field -> messages."""
        return {}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The driver's schema, as served by GET /api/v1/power-types/."""
        return {
            "name": cls.name,
            "description": cls.description,
            "queryable": cls.queryable,
            "can_set_boot_device": cls.can_set_boot_device,
            "fields": [f.to_dict() for f in cls.settings],
        }

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """Names of the parameters never to show, log or return from the API."""
        return frozenset(f.name for f in cls.settings if f.secret)

    @abstractmethod
    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Power on (setting a one-time PXE boot first when netboot is asked)."""

    @abstractmethod
    def power_off(self, *, mode: str = "hard") -> None:
        """Power off: `soft` asks the OS (ACPI), `hard` cuts power."""

    def power_cycle(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Power cycle; the default is off (hard) then on."""
        self.power_off(mode="hard")
        self.power_on(netboot=netboot, efi=efi)

    def power_query(self) -> str:
        """Return `on` or `off`."""
        raise PowerUnsupportedError(f"The {self.name} driver cannot query power state.")

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        """Set the next boot device (`pxe` or `disk`)."""
        raise PowerUnsupportedError(f"The {self.name} driver cannot set the boot device.")
