"""Nodes app configuration."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_builtin_scripts(sender, using="default", **kwargs) -> None:
    """Load the built-in scripts after migrate (skipped while the table does not exist yet)."""
    from django.db import connections

    from nodes.models import Script
    from nodes.services.scripts import builtin_scripts_sync

    if Script._meta.db_table not in connections[using].introspection.table_names():
        return
    builtin_scripts_sync()


class NodesConfig(AppConfig):
    name = "nodes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_sync_builtin_scripts, sender=self,
                             dispatch_uid="nodes.builtin_scripts_sync")
