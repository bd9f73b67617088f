"""Helpers shared by the zones services: locking, validating, saving, deleting, events."""
from collections.abc import Callable

from django.db import models
from django.db.models import ProtectedError

from maasproject.errors import InUseError
from nodes.services.events import event_record


def lock(instance: models.Model) -> models.Model:
    """Return a fresh, row-locked copy of `instance` from the database."""
    return type(instance).objects.select_for_update().get(pk=instance.pk)


def apply(instance: models.Model, fields: dict) -> models.Model:
    """Set attributes from `fields` on `instance`."""
    for name, value in fields.items():
        setattr(instance, name, value)
    return instance


def validate(instance: models.Model, check: Callable[[models.Model], None] | None = None) -> None:
    """Validate fields, then the rule `check` (which may normalise), then uniqueness."""
    instance.full_clean(validate_unique=False, validate_constraints=False)
    if check is not None:
        check(instance)
    instance.validate_unique()
    instance.validate_constraints()


def record(user, type: str, description: str) -> None:
    """Write a region event for a zones change."""
    event_record(machine=None, type=type, user=user, description=description)


def delete(instance: models.Model, what: str) -> None:
    """Delete `instance`, turning a ProtectedError into InUseError with a readable message."""
    try:
        instance.delete()
    except ProtectedError as exc:
        names = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise InUseError(
            f"Cannot delete {what}: it is still used by {len(exc.protected_objects)} "
            f"{' and '.join(names)}."
        ) from exc
