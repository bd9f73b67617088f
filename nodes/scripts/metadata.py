"""Read and validate MAAS's embedded YAML metadata block of a script body."""
import re

import yaml
from django.core.exceptions import ValidationError

from nodes.choices import HardwareType, ScriptParallel, ScriptType
from nodes.scripts.hardware import for_hardware

START = "--- Start MAAS 1.0 script metadata ---"
END = "--- End MAAS 1.0 script metadata ---"
# Comment prefixes of the languages scripts are written in (sh, python, lua, ini...).
_COMMENT = re.compile(r"^\s*(?:#+|//|--|;+)\s?(.*)$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$")

# MAAS's own spellings and aliases, mapped to our stored values.
SCRIPT_TYPES = {
    "commissioning": ScriptType.COMMISSIONING, "commission": ScriptType.COMMISSIONING,
    "0": ScriptType.COMMISSIONING,
    "testing": ScriptType.TESTING, "test": ScriptType.TESTING, "2": ScriptType.TESTING,
}
HARDWARE_TYPES = {
    "node": HardwareType.NODE, "machine": HardwareType.NODE, "cpu": HardwareType.CPU,
    "processor": HardwareType.CPU, "memory": HardwareType.MEMORY, "ram": HardwareType.MEMORY,
    "storage": HardwareType.STORAGE, "disk": HardwareType.STORAGE,
    "network": HardwareType.NETWORK, "net": HardwareType.NETWORK,
    "interface": HardwareType.NETWORK,
}
PARALLEL = {
    "disabled": ScriptParallel.DISABLED, "none": ScriptParallel.DISABLED,
    "instance": ScriptParallel.INSTANCE, "name": ScriptParallel.INSTANCE,
    "any": ScriptParallel.ANY, "enabled": ScriptParallel.ANY,
}
PARAMETER_TYPES = frozenset({"storage", "interface", "runtime", "url", "string", "password",
                             "choice", "boolean"})
TRUE, FALSE = frozenset({"true", "yes", "on", "1"}), frozenset({"false", "no", "off", "0"})


def extract_block(body: str) -> str | None:
    """The YAML text between the start and end markers, or None without a block."""
    lines, inside = [], False
    for line in body.splitlines():
        if START in line:
            inside, lines = True, []
        elif END in line and inside:
            return "\n".join(lines)
        elif inside:
            match = _COMMENT.match(line)
            lines.append(match.group(1) if match else line)
    if inside:
        raise ValidationError({"body": [f"The metadata block has no '{END}' line."]})
    return None


def parse_script_metadata(body: str) -> dict:
    """Model fields from a body's metadata block ({} without one); field errors if invalid."""
    text = extract_block(body)
    if text is None or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError({"body": [f"Invalid YAML in the script metadata: {exc}"]}) from exc
    if not isinstance(data, dict):
        raise ValidationError({"body": ["The script metadata must be a YAML mapping."]})
    return normalise_fields(data)


def normalise_fields(data: dict) -> dict:
    """Validate and convert metadata or API values to model fields; unknown keys are dropped."""
    fields, errors = {}, {}
    for key, value in data.items():
        converter = CONVERTERS.get(key)
        if converter is None:
            continue  # MAAS keys we have no use for yet
        try:
            fields[key] = converter(value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return fields


def _name(value) -> str:
    text = str(value).strip() if value is not None else ""
    if not NAME_RE.match(text):
        raise ValueError(f"'{text}' is not a valid script name: letters, digits, '.', '_', "
                         "'+' or '-', starting with a letter or digit.")
    return text


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _tags(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("Tags are a list or a comma-separated string.")
    tags = [str(tag).strip() for tag in value if str(tag).strip()]
    bad = [tag for tag in tags if not re.match(r"^[\w-]+$", tag)]
    if bad:
        raise ValueError(f"Invalid tags: {', '.join(bad)}.")
    return list(dict.fromkeys(tags))


def _choice(table: dict, what: str):
    def convert(value) -> str:
        key = str(value).strip().lower()
        if key not in table:
            choices = ", ".join(sorted(set(table.values())))
            raise ValueError(f"'{value}' is not a valid {what}; one of {choices}.")
        return str(table[key])

    return convert


def _timeout(value) -> int:
    """Seconds from an integer or a "HH:MM:SS" / "MM:SS" string."""
    if isinstance(value, bool):
        raise ValueError("The timeout is seconds or HH:MM:SS.")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\d+(:\d{1,2}){0,2}", value.strip()):
        seconds = 0
        for part in value.strip().split(":"):
            seconds = seconds * 60 + int(part)
    else:
        raise ValueError(f"'{value}' is not a timeout: seconds or HH:MM:SS.")
    if seconds < 0:
        raise ValueError("The timeout cannot be negative.")
    return seconds


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValueError(f"'{value}' is not a boolean.")


def _parameters(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("Parameters are a mapping of name to settings.")
    for name, spec in value.items():
        if not isinstance(spec, dict):
            raise ValueError(f"Parameter '{name}' must be a mapping (type, default, ...).")
        kind = spec.get("type")
        if kind is not None and kind not in PARAMETER_TYPES:
            raise ValueError(f"Parameter '{name}' has unknown type '{kind}'; one of "
                             f"{', '.join(sorted(PARAMETER_TYPES))}.")
    return {str(name): spec for name, spec in value.items()}


def packages(value) -> dict:
    """MAAS's apt/snap/url packages: refused, the ephemeral environment cannot install any."""
    if value is None or value in ({}, []) or (isinstance(value, str)
                                               and value.strip() in ("", "{}", "[]", "null")):
        return {}
    raise ValueError(
        "Packages (apt, snap, url) cannot be installed: the ephemeral environment is a busybox "
        "initramfs with no package manager and no network beyond the region. Ship what the "
        "script needs inside the script (e.g. a static binary fetched from the region), or "
        "leave `packages` out.")


CONVERTERS = {
    "name": _name,
    "title": _text,
    "description": _text,
    "tags": _tags,
    "script_type": _choice(SCRIPT_TYPES, "script type"),
    "hardware_type": _choice(HARDWARE_TYPES, "hardware type"),
    "parallel": _choice(PARALLEL, "parallel setting"),
    "timeout": _timeout,
    "destructive": _bool,
    "parameters": _parameters,
    "for_hardware": for_hardware,
    "may_reboot": _bool,
    "recommission": _bool,
    "packages": packages,
}
