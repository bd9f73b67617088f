"""The rack's image-sync report may list the files it holds; the region validates and keeps it."""
import pytest

from tests.zones.rack_helpers import rack_client, register
from zones.models import RackController

pytestmark = pytest.mark.django_db
URL = "/api/v1/rack/images/progress/"


def _progress(**overrides) -> dict:
    return {"bytes_done": 50, "bytes_total": 100, "files_done": 1, "files_total": 2,
            "state": "syncing", "error": "", **overrides}


@pytest.fixture
def rack_and_client():
    rack, token = register("rack1")
    return rack, rack_client(rack, token)


def test_held_files_are_stored(rack_and_client):
    rack, client = rack_and_client
    held = {"images/linux": "a" * 64}
    assert client.post(URL, _progress(held=held), format="json").status_code == 200
    assert RackController.objects.get(pk=rack.pk).image_sync["held"] == held


def test_a_report_without_held_is_still_accepted(rack_and_client):
    rack, client = rack_and_client
    assert client.post(URL, _progress(), format="json").status_code == 200
    assert "held" not in RackController.objects.get(pk=rack.pk).image_sync


@pytest.mark.parametrize("held", [
    {"images/linux": "not-a-sha"}, {"a": "a" * 64, "b": "b" * 64, "c": "c" * 64}, ["x"],
])
def test_bad_held_is_400(rack_and_client, held):
    _, client = rack_and_client
    assert client.post(URL, _progress(held=held), format="json").status_code == 400
