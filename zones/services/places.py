"""Writes for availability zones and resource pools (admin only)."""
from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import InUseError
from maasproject.permissions import require_admin
from zones.models import ResourcePool, Zone
from zones.models.place import DEFAULT_NAME, NamedGroup
from zones.services.common import apply, delete, lock, record, validate

KINDS = {Zone: "zone", ResourcePool: "pool"}


def _check_not_renaming_default(old_name: str, group: NamedGroup) -> None:
    """Refuse to rename the `default` zone or pool."""
    if old_name == DEFAULT_NAME and group.name != DEFAULT_NAME:
        raise ValidationError({"name": f"The default {KINDS[type(group)]} cannot be renamed."})


def _create(model: type[NamedGroup], user, fields: dict) -> NamedGroup:
    """Create a zone or pool after validation."""
    kind = KINDS[model]
    require_admin(user, f"create {kind}s")
    group = model(**fields)
    validate(group)
    group.save()
    record(user, f"{kind}_created", f"Created {kind} {group.name}.")
    return group


def _update(group: NamedGroup, user, fields: dict) -> NamedGroup:
    """Update a zone or pool; the default one keeps its name."""
    kind = KINDS[type(group)]
    require_admin(user, f"edit {kind}s")
    group = lock(group)
    old_name = group.name
    apply(group, fields)
    validate(group, lambda g: _check_not_renaming_default(old_name, g))
    group.save()
    record(user, f"{kind}_updated", f"Updated {kind} {group.name}.")
    return group


def _delete(group: NamedGroup, user) -> None:
    """Delete a zone or pool unless it is the default or still has machines."""
    kind = KINDS[type(group)]
    require_admin(user, f"delete {kind}s")
    group = lock(group)
    if group.name == DEFAULT_NAME:
        raise ValidationError({"name": f"The default {kind} cannot be deleted."})
    count = group.machine_set.count()
    if count:
        raise InUseError(f"Cannot delete {kind} {group.name}: it still has {count} machine(s); "
                    f"move them to another {kind} first.")
    record(user, f"{kind}_deleted", f"Deleted {kind} {group.name}.")
    delete(group, f"{kind} {group.name}")


@transaction.atomic
def zone_create(user, *, name: str, description: str = "") -> Zone:
    """Create an availability zone."""
    return _create(Zone, user, {"name": name, "description": description})


@transaction.atomic
def zone_update(zone: Zone, user, **fields) -> Zone:
    """Update a zone's name or description."""
    return _update(zone, user, fields)


@transaction.atomic
def zone_delete(zone: Zone, user) -> None:
    """Delete an empty, non-default zone."""
    _delete(zone, user)


@transaction.atomic
def pool_create(user, *, name: str, description: str = "") -> ResourcePool:
    """Create a resource pool."""
    return _create(ResourcePool, user, {"name": name, "description": description})


@transaction.atomic
def pool_update(pool: ResourcePool, user, **fields) -> ResourcePool:
    """Update a pool's name or description."""
    return _update(pool, user, fields)


@transaction.atomic
def pool_delete(pool: ResourcePool, user) -> None:
    """Delete an empty, non-default pool."""
    _delete(pool, user)
