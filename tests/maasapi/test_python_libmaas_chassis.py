"""python-libmaas 0.6.8 asks for add_chassis (which it does not wrap) through the handler it
builds from describe/, multipart as it always sends; the discovery is recorded, not run."""
import pytest

from rack_worker.client import CHASSIS_TASK
from tests.factories import AdminFactory, make_api_key
from tests.power.chassis_support import make_chassis_rack

maas_client = pytest.importorskip("maas.client", reason="python-libmaas (requirements-dev.txt)")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_add_chassis_through_libmaas(live_server, sent, tmp_path, monkeypatch):
    rack = make_chassis_rack(tmp_path, monkeypatch)
    client = maas_client.connect(live_server.url + "/MAAS/", apikey=make_api_key(AdminFactory()))
    handler = client._origin.Machines._handler
    answer = handler.add_chassis(chassis_type="redfish", hostname="10.0.0.9:8000",
                                 username="admin", password="Chassis-S3cret!",
                                 prefix_filter="node", accept_all="true")
    assert answer == f"Asking {rack.name} to add machines from chassis 10.0.0.9:8000".encode()
    [message] = [m for m in sent if m["name"] == CHASSIS_TASK]
    assert message["args"][0]["context"]["accept_all"] is True
    assert "Chassis-S3cret!" not in str(message)
