"""The machine list costs a fixed number of SQL queries, whatever the page size."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import BlockDeviceFactory, InterfaceFactory, MachineFactory, TagFactory

pytestmark = pytest.mark.django_db


def _queries_for(client, **params) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get("/api/v1/machines/", params)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_query_count_does_not_grow_with_page_size(admin_client):
    tags = [TagFactory(), TagFactory()]
    for _ in range(30):
        machine = MachineFactory(tags=tags)
        InterfaceFactory.create_batch(2, machine=machine)
        BlockDeviceFactory.create_batch(2, machine=machine)
    admin_client.get("/api/v1/machines/")  # first use of the key stamps last_used once
    small = _queries_for(admin_client, limit=5)
    large = _queries_for(admin_client, limit=30)
    filtered = _queries_for(admin_client, limit=30, tags=tags[0].name, status="new")
    assert small == large == filtered
    assert large <= 10


def test_fast_representation_matches_the_field_serializers(admin_client):
    """The hand-built body has exactly the declared fields, rendered as DRF would."""
    from nodes.api.serializers import BlockDeviceSerializer, InterfaceSerializer, MachineSerializer

    machine = MachineFactory(tags=[TagFactory(name="b"), TagFactory(name="a")])
    interface = InterfaceFactory(machine=machine)
    device = BlockDeviceFactory(machine=machine)
    body = admin_client.get(f"/api/v1/machines/{machine.system_id}/").json()
    assert list(body) == MachineSerializer.Meta.fields
    assert body["interface_set"] == [dict(InterfaceSerializer(interface).data)]
    assert body["blockdevice_set"] == [dict(BlockDeviceSerializer(device).data)]
    assert body["tag_names"] == ["a", "b"]
    assert body["created"].endswith("Z")
