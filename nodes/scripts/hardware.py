"""MAAS's `for_hardware` script metadata: validate its entries and match them to a machine's facts.

An entry is `modalias:<glob>`, `pci:VVVV:PPPP`, `usb:VVVV:PPPP` (hex vendor and product ids),
or `system_vendor:`, `system_product:`, `system_version:`, `mainboard_vendor:`,
`mainboard_product:` followed by the DMI value. A script runs on a machine when any entry matches
the facts its commissioning found (the modaliases listed by 30-modaliases, DMI from 30-dmi).
"""
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

_ID = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")
# for_hardware key -> the 30-dmi output key it is compared with.
DMI_KEYS = {"system_vendor": "vendor", "system_product": "product", "system_version": "version",
            "mainboard_vendor": "board_vendor", "mainboard_product": "board_product"}
KINDS = ("modalias", "pci", "usb", *DMI_KEYS)
# The bus ids inside a modalias: pci:v0000VVVVd0000PPPP..., usb:vVVVVpPPPP...
_PCI_ALIAS = re.compile(r"^pci:v0000([0-9A-F]{4})d0000([0-9A-F]{4})", re.IGNORECASE)
_USB_ALIAS = re.compile(r"^usb:v([0-9A-F]{4})p([0-9A-F]{4})", re.IGNORECASE)
MAX_ENTRIES = 100


@dataclass
class HardwareFacts:
    """What commissioning found: every device's modalias, and the DMI values."""

    modaliases: list[str] = field(default_factory=list)
    dmi: dict[str, str] = field(default_factory=dict)

    def ids(self, bus: str) -> set[str]:
        """`vvvv:pppp` of the PCI or USB devices, from their modaliases."""
        pattern = _PCI_ALIAS if bus == "pci" else _USB_ALIAS
        found = set()
        for alias in self.modaliases:
            match = pattern.match(alias)
            if match:
                found.add(f"{match.group(1)}:{match.group(2)}".lower())
        return found


def normalise_entry(entry) -> str:
    """One entry in its stored form (ids in lowercase hex); ValueError when malformed."""
    text = str(entry).strip() if isinstance(entry, str) else ""
    kind, sep, value = text.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not sep or kind not in KINDS or not value:
        raise ValueError(f"'{entry}' is not a hardware match: use one of "
                         f"{', '.join(k + ':' for k in KINDS)} followed by a value.")
    if kind in ("pci", "usb"):
        if not _ID.match(value):
            raise ValueError(f"'{entry}': {kind} ids are {kind}:VVVV:PPPP, four hex digits each "
                             "(vendor and product), like pci:8086:1572.")
        return f"{kind}:{value.lower()}"
    if any(ch in value for ch in "\t\n\r"):
        raise ValueError(f"'{entry}' holds a tab or a line break.")
    return f"{kind}:{value}"


def for_hardware(value) -> list[str]:
    """A list (or a comma-separated string) of entries, validated and de-duplicated."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("for_hardware is a list of entries (or a comma-separated string).")
    entries = [normalise_entry(item) for item in value
               if not (isinstance(item, str) and not item.strip())]
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"At most {MAX_ENTRIES} for_hardware entries.")
    return list(dict.fromkeys(entries))


def entry_matches(entry: str, facts: HardwareFacts) -> bool:
    """Whether one stored entry matches the facts (DMI values compared case-insensitively)."""
    kind, _, value = entry.partition(":")
    if kind == "modalias":
        return any(fnmatchcase(alias, value) for alias in facts.modaliases)
    if kind in ("pci", "usb"):
        return value.lower() in facts.ids(kind)
    found = facts.dmi.get(DMI_KEYS.get(kind, ""), "")
    return bool(found) and found.strip().casefold() == value.casefold()


def hardware_match(entries: list[str], facts: HardwareFacts) -> str | None:
    """The first entry that matches, or None (no entries: None, the caller runs the script)."""
    return next((entry for entry in entries if entry_matches(entry, facts)), None)


def parse_modaliases(text: str) -> list[str]:
    """The modaliases in 30-modaliases' output (`bus=pci<TAB>modalias=pci:v...` lines)."""
    found = []
    for line in text.splitlines():
        for part in line.split("\t"):
            key, sep, value = part.partition("=")
            if sep and key.strip() == "modalias" and value.strip():
                found.append(value.strip())
    return list(dict.fromkeys(found))
