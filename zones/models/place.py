"""Availability zones and resource pools: how machines are grouped."""
from django.db import models

from maasproject.validators import validate_name, validate_text

DEFAULT_NAME = "default"


class NamedGroup(models.Model):
    """Shared shape of zones and pools: a unique name and a description."""

    name = models.CharField(max_length=256, unique=True, validators=[validate_name])
    description = models.TextField(blank=True, default="", validators=[validate_text])
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def get_default(cls):
        """Return the `default` row, creating it if it was never created."""
        obj, _ = cls.objects.get_or_create(name=DEFAULT_NAME)
        return obj

    @classmethod
    def default_id(cls) -> int:
        return cls.get_default().pk


class Zone(NamedGroup):
    """A physical availability zone: a failure domain (rack, room, building)."""

    class Meta(NamedGroup.Meta):
        pass


class ResourcePool(NamedGroup):
    """A pool of machines set aside for a team or purpose."""

    class Meta(NamedGroup.Meta):
        pass
