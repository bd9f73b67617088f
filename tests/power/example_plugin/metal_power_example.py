"""Example third-party power driver: a lamp that is on or off."""
from __future__ import annotations

from power.drivers.base import POWER_OFF, POWER_ON, PowerDriver, SettingField

LAMPS: dict[str, str] = {}


class ExampleDriver(PowerDriver):
    """Switches an in-memory lamp; proves plugins load from the entry-point group."""

    name = "example"
    description = "Example plugin lamp"
    settings = (SettingField("lamp", "Lamp name", required=True, scope="node"),)

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        LAMPS[self.params["lamp"]] = POWER_ON

    def power_off(self, *, mode: str = "hard") -> None:
        LAMPS[self.params["lamp"]] = POWER_OFF

    def power_query(self) -> str:
        return LAMPS.get(self.params["lamp"], POWER_OFF)


class ClashingDriver(ExampleDriver):
    """Claims the built-in name "manual": the registry must refuse it."""

    name = "manual"
    description = "Impostor"
