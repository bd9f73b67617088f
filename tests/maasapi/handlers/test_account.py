"""account/prefs/sshkeys/ (201 on create, your keys only) and boot-resources/ reads
(operations: test_bootresources.py; key import: test_sshkey_import.py)."""
import pytest

from nodes.models import SSHKey
from tests.maasapi.conftest import API
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
       "me@example")


def test_ssh_keys_are_yours_alone(maas_user, maas_admin):
    created = maas_user.post(API + "account/prefs/sshkeys/", {"key": KEY})
    assert created.status_code == 201, created.content
    key = created.json()
    assert key["key"].startswith("ssh-ed25519") and key["resource_uri"].endswith(f"/{key['id']}/")
    assert [k["id"] for k in maas_user.get(API + "account/prefs/sshkeys/").json()] == [key["id"]]
    assert maas_admin.get(API + "account/prefs/sshkeys/").json() == []
    bad = maas_user.post(API + "account/prefs/sshkeys/", {"key": "ssh-rsa notbase64!"})
    assert bad.status_code == 400 and SSHKey.objects.count() == 1
    assert maas_user.delete(API + f"account/prefs/sshkeys/{key['id']}/").status_code == 204
    assert not SSHKey.objects.exists()


def test_boot_resources_are_listed(maas_user):
    resource = deployable_resource(series="noble")
    listed = maas_user.get(API + "boot-resources/").json()
    assert [r["name"] for r in listed] == [resource.name]
    assert maas_user.get(API + f"boot-resources/{resource.id}/").json()["id"] == resource.id
    assert maas_user.get(API + "boot-resources/", {"op": "is_importing"}).json() is False
