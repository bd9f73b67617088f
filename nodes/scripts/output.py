"""Parse the stdout of the built-in scripts into typed values.

Line format: one record per line; a record is tab-separated `key=value` fields, each split on
its first '=', so values may hold spaces and '=' but never a tab or a newline (the scripts turn
those into spaces). Scalar scripts (10-cpu, 10-memory, 30-dmi, 30-bmc, 30-firmware) print one
field per line and their records are merged; device scripts (20-block-devices, 20-network) print
one device per line. Blank lines are skipped. A malformed line (a field without '=', an empty
key, a missing or invalid value) is reported as a warning and skipped: parsing never raises.
"""
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from nodes.models.hardware import normalise_mac

DEVICE_NAME = re.compile(r"^[A-Za-z0-9][\w.:@-]{0,63}$")


@dataclass
class Parsed:
    """A script's parsed output: a dict (scalar scripts) or a list of dicts (devices)."""

    data: dict | list = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_records(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line number, {key: value}) per well-formed line, and a warning per malformed one."""
    records, warnings = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = {}
        for part in line.split("\t"):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                break
            record[key.strip()] = value.strip()
        else:
            records.append((number, record))
            continue
        warnings.append(f"line {number}: not key=value fields: {line[:200]!r}")
    return records, warnings


def _int(value: str, minimum: int = 0) -> int:
    if not re.fullmatch(r"\d+", value or "") or int(value) < minimum:
        raise ValueError(f"{value!r} is not an integer >= {minimum}")
    return int(value)


def _mac(value: str) -> str:
    try:
        return normalise_mac(value)
    except ValidationError as exc:
        raise ValueError(f"{value!r} is not a MAC address") from exc


def _name(value: str) -> str:
    if not DEVICE_NAME.match(value or ""):
        raise ValueError(f"{value!r} is not a device name")
    return value


def _choice(*choices: str):
    def convert(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return convert


def _text(value: str) -> str:
    return value[:128]


# Per script: {key: (converter, required)}; keys not listed are ignored.
SCHEMAS = {
    "10-cpu": {"cpu_count": (lambda v: _int(v, 1), True), "cpu_speed": (_int, False),
               "cpu_model": (str, False), "arch": (_name, False)},
    "10-memory": {"memory_mib": (lambda v: _int(v, 1), True)},
    "20-block-devices": {
        "name": (_name, True), "size": (lambda v: _int(v, 1), True),
        "block_size": (lambda v: _int(v, 1), False), "model": (_text, False),
        "serial": (_text, False), "id_path": (lambda v: v[:256], False),
        "rotational": (_choice("0", "1"), False),
    },
    "20-network": {"name": (_name, True), "mac": (_mac, True), "driver": (_text, False),
                   "speed": (_int, False), "link": (_choice("up", "down"), False)},
    "30-dmi": {"vendor": (_text, False), "product": (_text, False), "version": (_text, False),
               "serial": (_text, False), "bios_vendor": (_text, False),
               "board_vendor": (_text, False), "board_product": (_text, False)},
    "30-bmc": {"bmc": (_choice("present", "absent"), True), "source": (_text, False)},
    "30-firmware": {"firmware": (_choice("bios", "uefi"), True),
                    "secure_boot": (_choice("on", "off"), False)},
}
DEVICE_SCRIPTS = frozenset({"20-block-devices", "20-network"})


def _convert(schema: dict, number: int, record: dict, warnings: list[str]) -> dict | None:
    """The record's known fields converted, or None (with a warning) if one is invalid."""
    values = {}
    for key, raw in record.items():
        if key not in schema:
            continue
        try:
            values[key] = schema[key][0](raw)
        except ValueError as exc:
            warnings.append(f"line {number}: {key}: {exc}")
            return None
    return values


def parse_output(script_name: str, text: str) -> Parsed:
    """Parse a built-in script's stdout (an unknown script name gives an empty result)."""
    schema = SCHEMAS.get(script_name)
    if schema is None:
        return Parsed()
    records, warnings = parse_records(text)
    required = [key for key, (_convert_fn, needed) in schema.items() if needed]
    if script_name in DEVICE_SCRIPTS:
        devices = []
        for number, record in records:
            values = _convert(schema, number, record, warnings)
            missing = [key for key in required if values is not None and key not in values]
            if missing:
                warnings.append(f"line {number}: missing {', '.join(missing)}")
            elif values is not None:
                devices.append(values)
        return Parsed(devices, warnings)
    merged = {}
    for number, record in records:
        merged.update(_convert(schema, number, record, warnings) or {})
    missing = [key for key in required if key not in merged]
    if missing:
        warnings.append(f"missing {', '.join(missing)}")
    return Parsed(merged, warnings)
