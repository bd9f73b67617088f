"""Region configuration: the names MAAS clients touch, their defaults, checks and effects.

- `maas_name`: the region's name (MAAS shows it in its UI and the CLI prints it).
- `default_osystem`, `default_distro_series`: what a deploy without them writes (empty: the
  newest deployable image, nodes.services.deploy.deploy_image_choose).
- `commissioning_distro_series`: kept for clients; the ephemeral environment has one image.
- `enable_disk_erasing_on_release`: a release that says nothing about erasing erases (full).
- `default_min_hwe_kernel`: kept for clients; kernels are not chosen per machine here.
"""
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.models.config import ConfigItem
from nodes.services.events import event_record

SERIES = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off", ""})


def _text(pattern: re.Pattern | None) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if len(text) > 255 or any(ch < " " for ch in text):
            raise ValidationError("Enter at most 255 printable characters.")
        if text and pattern is not None and not pattern.match(text):
            raise ValidationError(f"{text!r} is not a valid name (lower case, digits, . + -).")
        return text
    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise ValidationError(f"{value!r} is not a boolean (true/false, 1/0, yes/no, on/off).")


@dataclass(frozen=True)
class Setting:
    """A configuration name: how its value is parsed and what it is when never set."""

    parse: Callable[[Any], Any]
    default: Callable[[], Any]


SETTINGS: dict[str, Setting] = {
    "maas_name": Setting(_text(None), socket.gethostname),
    "default_osystem": Setting(_text(SERIES), lambda: ""),
    "default_distro_series": Setting(_text(SERIES), lambda: ""),
    "commissioning_distro_series": Setting(_text(SERIES), lambda: ""),
    "enable_disk_erasing_on_release": Setting(_boolean, lambda: False),
    "default_min_hwe_kernel": Setting(_text(SERIES), lambda: ""),
}


def _setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise ValidationError({"name": [f"{name!r} is not a configuration name; known: "
                                        f"{', '.join(sorted(SETTINGS))}."]}) from None


def config_get(name: str) -> Any:
    """The value of `name`: what was set, else its default; ValidationError if unknown."""
    setting = _setting(name)
    item = ConfigItem.objects.filter(name=name).first()
    return setting.default() if item is None else item.value


def config_all() -> dict[str, Any]:
    """Every known name with its value."""
    stored = dict(ConfigItem.objects.filter(name__in=SETTINGS).values_list("name", "value"))
    return {name: stored[name] if name in stored else setting.default()
            for name, setting in SETTINGS.items()}


@transaction.atomic
def config_set(name: str, value: Any, user) -> Any:
    """Set `name` (administrators only); the parsed value. ValidationError with field errors
    for an unknown name or a bad value, and nothing is saved."""
    require_admin(user, "change the configuration")
    setting = _setting(name)
    try:
        parsed = setting.parse(value)
    except ValidationError as exc:
        raise ValidationError({"value": exc.messages}) from None
    ConfigItem.objects.update_or_create(name=name, defaults={"value": parsed})
    event_record(machine=None, type="config_set", user=user,
                 description=f"Configuration {name} set to {parsed!r}.")
    return parsed


@transaction.atomic
def config_update(values: dict[str, Any], user) -> dict[str, Any]:
    """Set several names at once, all or none (administrators only); every value after.

    ValidationError keyed by name when a name is unknown or its value is bad.
    """
    require_admin(user, "change the configuration")
    errors = {}
    for name, value in values.items():
        try:
            config_set(name, value, user)
        except ValidationError as exc:
            errors[name] = [message for messages in exc.message_dict.values()
                            for message in messages]
    if errors:
        raise ValidationError(errors)
    return config_all()
