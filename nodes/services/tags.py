"""Tag writes (admin only)."""
from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.models import Machine, Tag
from nodes.services.events import event_record

TAG_FIELDS = ("name", "comment", "kernel_opts")


@transaction.atomic
def tag_create(user, **fields) -> Tag:
    require_admin(user, "create tags")
    tag = Tag(**fields)
    tag.full_clean()
    tag.save()
    event_record(machine=None, type="tag_created", user=user, description=f"Tag {tag.name}")
    return tag


@transaction.atomic
def tag_update(tag: Tag, user, **fields) -> Tag:
    require_admin(user, "edit tags")
    for name, value in fields.items():
        setattr(tag, name, value)
    tag.full_clean()
    tag.save()
    return tag


@transaction.atomic
def tag_delete(tag: Tag, user) -> None:
    require_admin(user, "delete tags")
    event_record(machine=None, type="tag_deleted", user=user, description=f"Tag {tag.name}")
    tag.delete()


@transaction.atomic
def tag_update_nodes(tag: Tag, user, *, add: list[str] = (), remove: list[str] = ()) -> dict:
    """Tag and untag machines by system id (administrators), all or none; the counts changed.

    ValidationError naming the system ids that match no machine.
    """
    require_admin(user, "tag machines")
    wanted = set(add) | set(remove)
    found = dict(Machine.objects.filter(system_id__in=wanted).values_list("system_id", "id"))
    missing = sorted(wanted - set(found))
    if missing:
        raise ValidationError({"add" if set(missing) & set(add) else "remove": [
            f"No machine with system id {', '.join(missing)}."]})
    tag.machines.add(*[found[system_id] for system_id in add])
    tag.machines.remove(*[found[system_id] for system_id in remove])
    event_record(machine=None, type="tag_updated", user=user,
                 description=f"Tag {tag.name}: {len(add)} machine(s) added, "
                             f"{len(remove)} removed")
    return {"added": len(set(add)), "removed": len(set(remove))}
