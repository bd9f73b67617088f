"""python-libmaas 0.6.8, the real client, against a live region: connect with a key and login
with a password, version, whoami, zones and pools (more of the lifecycle as handlers land)."""
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
