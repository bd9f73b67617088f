"""Helpers for rack API tests: registered racks and API clients authenticated as them."""
from rest_framework.test import APIClient

from zones.models import RackController
from zones.services import rackapi


def register(name: str, interfaces: list[dict] | None = None) -> tuple[RackController, str]:
    """Register a rack through the service; return it with its token."""
    return rackapi.rack_register(rackapi.rack_secret(), name, "1.0", interfaces or [])


def rack_client(rack: RackController, token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Rack {rack.system_id}:{token}")
    return client
