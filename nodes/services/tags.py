"""Tag writes (admin only)."""
from django.db import transaction

from maasproject.permissions import require_admin
from nodes.models import Tag
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
