"""SSH keys API: validation (400 with field errors), ownership, admins see all, events."""
import pytest
from django.core.exceptions import ValidationError

from nodes.models import Event, SSHKey
from nodes.models.sshkey import normalise_public_key
from nodes.services import accounts
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/account/ssh-keys/"
ED25519 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIetZ2X/x61926g6MOHn9BA2n9ShaAyfNu8LLEzMe6mT "
           "alice@laptop")
ED25519_FINGERPRINT = "SHA256:hk2e/ZzWNk55x6zTYo1PI+P8CC5cG9oVuq3h3lXeT0o"  # ssh-keygen -l
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCY9akRfIErH8n"
         "nn+at3BkmdmBUWizezeE4nD8IYm2Z8SwnXoGDFTVAUA4RjyE7iZiKgLMbURdGSHVnk6taeTnA=")
RSA = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCoJmRlucVAoRDxqh7hUDxpEPZVKYgfWhe6W+Vcs2sd4jnzD9i5G"
       "aAJsH+/J9IzoprCuS3u5T7Gtzw3lgDCYSQ5u0Ke50Zssc9LOaMZM66FYzNL7hLY+HdoVUeSFO/e5QF1FajhqeJWX"
       "4QRQW8RpG5Vbkv9Ear7O8jD7rH4Q4VMR7y6lFb8sT2/jvzQ5CGj9xCgEMlZNTlQtRWREiEjFuipjOb37y16K+pbL"
       "KjL+V4ykyQIDDXxq1R6a5mzNQwPuE54kdKYaIkPg/q2ZDD5lO2zQ3WmYJsTvtcmXg+MQso9gxUwaa0wCTl21aiVb"
       "xROZT8bUR+Khp713eHopGVNTjNT rsa key")


def results(response) -> list[dict]:
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def test_user_adds_lists_and_deletes_own_keys(user_client):
    response = user_client.post(KEYS, {"key": "  " + ED25519.replace(" ", "   ") + "\n"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == ED25519  # whitespace normalised
    assert (body["type"], body["comment"]) == ("ssh-ed25519", "alice@laptop")
    assert body["fingerprint"] == ED25519_FINGERPRINT
    assert body["username"] == user_client.user.username
    assert user_client.post(KEYS, {"key": ECDSA}).status_code == 201
    assert [k["type"] for k in results(user_client.get(KEYS))] == ["ssh-ed25519",
                                                                    "ecdsa-sha2-nistp256"]
    assert user_client.delete(f"{KEYS}{body['id']}/").status_code == 204
    assert [k["key"] for k in results(user_client.get(KEYS))] == [ECDSA]
    types = list(Event.objects.values_list("type", flat=True))
    assert types.count("sshkey_created") == 2 and types.count("sshkey_deleted") == 1
    assert ED25519_FINGERPRINT in Event.objects.get(type="sshkey_deleted").description


@pytest.mark.parametrize(("key", "message"), [
    ("", "blank"),
    ("ssh-ed25519", "type base64"),
    ("ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAIIetZ2X", "Unknown SSH key type"),
    ('from="10.0.0.1" ' + ED25519, "Unknown SSH key type"),
    ("ssh-ed25519 not*base64 x", "not valid base64"),
    ("ssh-rsa " + ED25519.split()[1], "not a ssh-rsa key"),  # an ed25519 blob
    ("ssh-ed25519 AAAA", "not a ssh-ed25519 key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "Unknown SSH key type"),
])
def test_invalid_keys_are_field_errors(user_client, key, message):
    response = user_client.post(KEYS, {"key": key})
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["key"]
    assert message in " ".join(response.json()["key"])
    assert not SSHKey.objects.exists()


def test_same_key_twice_is_refused_even_with_another_comment(user_client):
    assert user_client.post(KEYS, {"key": RSA}).status_code == 201
    for again in (RSA, RSA.replace("rsa key", "other comment"), RSA.rsplit(" ", 2)[0]):
        response = user_client.post(KEYS, {"key": again})
        assert response.status_code == 400
        assert "already" in response.json()["key"][0]
    # Another user may add the same key.
    other = UserFactory()
    accounts.sshkey_create(other, RSA, actor=other)
    assert SSHKey.objects.count() == 2


def test_users_see_only_their_keys_admins_see_all(user_client, admin_client):
    other = UserFactory()
    theirs = accounts.sshkey_create(other, ED25519, actor=other)
    mine = accounts.sshkey_create(user_client.user, ECDSA, actor=user_client.user)
    assert [k["id"] for k in results(user_client.get(KEYS))] == [mine.pk]
    assert user_client.get(f"{KEYS}{theirs.pk}/").status_code == 404
    assert user_client.delete(f"{KEYS}{theirs.pk}/").status_code == 404
    everyone = {k["id"] for k in results(admin_client.get(KEYS))}
    assert everyone == {mine.pk, theirs.pk}
    filtered = results(admin_client.get(KEYS, {"username": other.username}))
    assert [k["id"] for k in filtered] == [theirs.pk]
    assert admin_client.delete(f"{KEYS}{theirs.pk}/").status_code == 204
    assert not SSHKey.objects.filter(pk=theirs.pk).exists()


def test_anonymous_gets_401(anon_client):
    assert anon_client.get(KEYS).status_code == 401
    assert anon_client.post(KEYS, {"key": ED25519}).status_code == 401


def test_service_refuses_keys_for_others_unless_admin():
    user, other = UserFactory(), UserFactory()
    with pytest.raises(Exception, match="administrators"):
        accounts.sshkey_create(other, ED25519, actor=user)


def test_normalise_public_key():
    assert normalise_public_key(f"\t{ECDSA}\n") == ECDSA
    with pytest.raises(ValidationError):
        normalise_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")


def test_admin_pages(admin, client):
    client.force_login(admin)
    owner = UserFactory()
    response = client.post("/admin/nodes/sshkey/add/", {"user": owner.pk, "key": ED25519})
    assert response.status_code == 302, response.content.decode()[:3000]
    key = SSHKey.objects.get()
    assert (key.user, key.key) == (owner, ED25519)
    assert client.get("/admin/nodes/sshkey/").status_code == 200
    response = client.post("/admin/nodes/sshkey/add/", {"user": owner.pk, "key": "nope"})
    assert response.status_code == 200 and SSHKey.objects.count() == 1
    response = client.post(f"/admin/nodes/sshkey/{key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not SSHKey.objects.exists()
    assert Event.objects.filter(type="sshkey_deleted").exists()
