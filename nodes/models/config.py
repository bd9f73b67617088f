"""Region configuration an operator changes at run time (MAAS's `maas/?op=set_config` names).

One row per name that was set; a name never set has its default (nodes.services.config).
"""
from django.db import models


class ConfigItem(models.Model):
    """One configuration value, stored as JSON."""

    name = models.CharField(max_length=64, unique=True)
    value = models.JSONField(null=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={self.value!r}"
