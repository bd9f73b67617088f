"""Driver registry: built-in drivers plus third-party ones from a Python entry-point group."""
from __future__ import annotations

import inspect
import logging
import re
from functools import lru_cache
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points

from power.drivers.base import PowerDriver, PowerSettingsError, SettingField

ENTRY_POINT_GROUP = "metal.power_drivers"
BUILTIN_DRIVERS = (
    "power.drivers.manual:ManualDriver",
    "power.drivers.fake:FakeDriver",
    "power.drivers.ipmi:IPMIDriver",
    "power.drivers.redfish:RedfishDriver",
    "power.drivers.webhook:WebhookDriver",
    "power.drivers.virsh:VirshDriver",
)
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
logger = logging.getLogger(__name__)


class DuplicateDriverError(ValueError):
    """Two drivers claim the same name."""


def check_driver(driver: object) -> None:
    """Raise TypeError unless `driver` is a concrete, well-described PowerDriver subclass."""
    if not (isinstance(driver, type) and issubclass(driver, PowerDriver)):
        raise TypeError(f"{driver!r} is not a PowerDriver subclass")
    if inspect.isabstract(driver):
        raise TypeError(f"{driver.__qualname__} does not implement every driver method")
    name = getattr(driver, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise TypeError(f"{driver.__qualname__}.name must be a short lower-case identifier")
    if not isinstance(getattr(driver, "description", None), str):
        raise TypeError(f"{driver.__qualname__}.description must be a string")
    settings = driver.settings
    if not isinstance(settings, tuple) or not all(isinstance(f, SettingField) for f in settings):
        raise TypeError(f"{driver.__qualname__}.settings must be a tuple of SettingField")
    if len({f.name for f in settings}) != len(settings):
        raise TypeError(f"{driver.__qualname__}.settings repeats a field name")


class DriverRegistry:
    """Maps power type names to driver classes; refuses duplicate names."""

    def __init__(self) -> None:
        self._drivers: dict[str, type[PowerDriver]] = {}

    def register(self, driver: type[PowerDriver]) -> type[PowerDriver]:
        """Add a driver class (usable as a decorator); the same class twice is a no-op."""
        check_driver(driver)
        existing = self._drivers.get(driver.name)
        if existing is not None and existing is not driver:
            raise DuplicateDriverError(
                f"Power driver name {driver.name!r} is taken by {existing.__module__}."
                f"{existing.__qualname__}"
            )
        self._drivers[driver.name] = driver
        return driver

    def get(self, name: str) -> type[PowerDriver]:
        """The driver class for a power type, or PowerSettingsError on `power_type`."""
        try:
            return self._drivers[name]
        except (KeyError, TypeError):
            raise PowerSettingsError(
                {"power_type": [f"Unknown power type {name!r}; one of {', '.join(self.names())}."]}
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._drivers

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def all(self) -> list[type[PowerDriver]]:
        return [self._drivers[name] for name in self.names()]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register plugin drivers; a plugin that fails or clashes is logged and skipped."""
        return [
            entry_point.name
            for entry_point in entry_points(group=group)
            if self._load_entry_point(entry_point)
        ]

    def _load_entry_point(self, entry_point: EntryPoint) -> bool:
        try:
            self.register(entry_point.load())
        except (TypeError, DuplicateDriverError) as exc:
            logger.error("Power driver plugin %s was not loaded: %s", entry_point.value, exc)
            return False
        except Exception:
            logger.exception("Power driver plugin %s failed to import", entry_point.value)
            return False
        return True


def _load_builtin(path: str) -> type[PowerDriver]:
    module_name, class_name = path.split(":")
    return getattr(import_module(module_name), class_name)


@lru_cache(maxsize=1)
def get_registry() -> DriverRegistry:
    """The process-wide registry: built-ins first, then plugins."""
    registry = DriverRegistry()
    for path in BUILTIN_DRIVERS:
        registry.register(_load_builtin(path))
    registry.load_entry_points()
    return registry
