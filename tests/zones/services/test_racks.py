"""Admin-side rack writes."""
import pytest

from maasproject.errors import InUseError
from tests.factories import RackControllerFactory, VLANFactory
from zones.models import RackController
from zones.services.racks import rack_delete

pytestmark = pytest.mark.django_db


def test_rack_serving_dhcp_cannot_be_deleted(admin):
    rack = RackControllerFactory()
    VLANFactory(vid=4, dhcp_on=True, primary_rack=rack)
    with pytest.raises(InUseError, match="primary DHCP rack"):
        rack_delete(rack, admin)
    assert RackController.objects.filter(pk=rack.pk).exists()


def test_idle_rack_is_deleted(admin):
    rack = RackControllerFactory()
    rack_delete(rack, admin)
    assert not RackController.objects.exists()
