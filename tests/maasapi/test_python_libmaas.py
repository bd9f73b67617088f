"""python-libmaas 0.6.8, the real client, against a live region: connect with a key and login
with a password, version, whoami, zones and pools, the
boot-resources import (more of the lifecycle as handlers land)."""
import pytest

from tests.factories import AdminFactory, make_api_key

maas_client = pytest.importorskip("maas.client", reason="python-libmaas (requirements-dev.txt)")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_connect_with_a_key_and_login_with_a_password(live_server):
    admin = AdminFactory(username="ops")
    admin.set_password("libmaas-pass-1")
    admin.save()
    url = live_server.url + "/MAAS/"
    client = maas_client.connect(url, apikey=make_api_key(admin))
    assert client.users.whoami().username == "ops"
    version = client.version.get()
    assert "authenticate-api" in version.capabilities and len(version.version_info) == 3
    zone = client.zones.create("libmaas-zone", description="made by libmaas")
    assert zone.name in [z.name for z in client.zones.list()]
    assert client.zones.get("libmaas-zone").description == "made by libmaas"
    pool = client.resource_pools.create("libmaas-pool")
    assert client.resource_pools.get(pool.id).name == "libmaas-pool"
    logged_in = maas_client.login(url, username="ops", password="libmaas-pass-1")
    assert logged_in.users.whoami().is_admin
    with pytest.raises(Exception, match="403|Forbidden|Unauthorized|401"):
        maas_client.login(url, username="ops", password="wrong")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_boot_resources_import_and_stop_import(live_server, monkeypatch):
    """start_import() and stop_import() (viscera); is_importing, which libmaas 0.6.8 does not
    wrap, through the handler it builds from describe/. The task is recorded, not sent."""
    from nodes.services import bootimport
    from tests.nodes.bootresource_factories import deployable_resource

    sent = []
    monkeypatch.setattr(bootimport.current_app, "send_task",
                        lambda name, **options: sent.append((name, options["queue"])))
    client = maas_client.connect(live_server.url + "/MAAS/", apikey=make_api_key(AdminFactory()))
    handler = client._origin.BootResources._handler
    assert handler.is_importing() is False
    assert client.boot_resources.start_import() == b"Import of boot resources started"
    assert sent == [("nodes.tasks.import_boot_images", "region")]
    assert handler.is_importing() is True  # queued for a region worker
    assert client.boot_resources.stop_import() == b"Import of boot resources is being stopped"
    resource = deployable_resource(series="noble")
    assert [r.name for r in client.boot_resources.list()] == [resource.name]
    client.boot_resources.get(resource.id).delete()
    assert len(client.boot_resources.list()) == 0
