"""The maasapi app: no models, only the MAAS API 2.0 handlers."""
from django.apps import AppConfig


class MaasApiConfig(AppConfig):
    """MAAS API 2.0 (python-libmaas, its CLI, gomaasapi, Terraform)."""

    name = "maasapi"
    verbose_name = "MAAS API 2.0"
