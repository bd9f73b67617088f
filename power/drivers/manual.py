"""Manual power driver: a person presses the button; nothing to do, nothing to query."""
from __future__ import annotations

from power.drivers.base import PowerDriver


class ManualDriver(PowerDriver):
    """Power is switched by hand: every action succeeds at once, the state is unknown."""

    name = "manual"
    description = "Manual"
    settings = ()
    queryable = False
    can_set_boot_device = False

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        """Nothing to do: an operator powers the machine on."""

    def power_off(self, *, mode: str = "hard") -> None:
        """Nothing to do: an operator powers the machine off."""
