"""Users and API keys API: permissions, validation, secrets shown once, events."""
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from nodes.models import ApiKey, Event
from tests.factories import AdminFactory, MachineFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users/"
KEYS = "/api/v1/account/api-keys/"


def results(response) -> list[dict]:
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


# Users


def test_admin_lists_users(admin_client, user):
    response = admin_client.get(USERS)
    assert response.status_code == 200
    names = [u["username"] for u in results(response)]
    assert user.username in names and admin_client.user.username in names
    assert all("password" not in u for u in results(response))


def test_user_cannot_list_users(user_client):
    assert user_client.get(USERS).status_code == 403


def test_anonymous_gets_401(anon_client):
    assert anon_client.get(USERS).status_code == 401
    assert anon_client.get(f"{USERS}whoami/").status_code == 401
    assert anon_client.get(KEYS).status_code == 401


def test_whoami(user_client):
    response = user_client.get(f"{USERS}whoami/")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == user_client.user.username
    assert body["is_superuser"] is False
    assert set(body) == {"username", "email", "is_superuser", "is_active", "date_joined"}


def test_user_reads_itself_but_not_others(user_client):
    other = UserFactory()
    assert user_client.get(f"{USERS}{user_client.user.username}/").status_code == 200
    assert user_client.get(f"{USERS}{other.username}/").status_code == 403


def test_admin_reads_any_user(admin_client, user):
    response = admin_client.get(f"{USERS}{user.username}/")
    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_admin_creates_user(admin_client):
    response = admin_client.post(
        USERS,
        {"username": "alice", "email": "alice@example.com", "password": "long-enough-pass",
         "is_superuser": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert "password" not in response.json()
    alice = User.objects.get(username="alice")
    assert alice.is_superuser and alice.is_staff
    assert alice.check_password("long-enough-pass")
    event = Event.objects.get(type="user_created")
    assert event.machine is None and event.user == admin_client.user
    assert "long-enough-pass" not in event.description


def test_created_user_can_log_in_to_the_api(admin_client):
    admin_client.post(USERS, {"username": "bob", "password": "long-enough-pass"}, format="json")
    client = APIClient()
    assert client.login(username="bob", password="long-enough-pass")
    assert client.get(f"{USERS}whoami/").json()["username"] == "bob"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "carol", "password": "short"}, "password"),
        ({"username": "carol"}, "password"),
        ({"username": "bad name!", "password": "long-enough-pass"}, "username"),
        ({"username": "carol", "password": "long-enough-pass", "email": "nope"}, "email"),
        ({"password": "long-enough-pass"}, "username"),
    ],
)
def test_create_user_bad_input(admin_client, body, field):
    before = User.objects.count()
    response = admin_client.post(USERS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert User.objects.count() == before
    assert not Event.objects.filter(type="user_created").exists()


def test_create_duplicate_user(admin_client, user):
    response = admin_client.post(
        USERS, {"username": user.username, "password": "long-enough-pass"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


def test_user_cannot_create_users(user_client):
    response = user_client.post(
        USERS, {"username": "mallory", "password": "long-enough-pass"}, format="json"
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()


def test_admin_updates_user(admin_client, user):
    response = admin_client.patch(
        f"{USERS}{user.username}/",
        {"email": "new@example.com", "password": "another-long-pass"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert user.check_password("another-long-pass")
    event = Event.objects.get(type="user_updated")
    assert "password" in event.description and "another-long-pass" not in event.description


def test_admin_promotes_user(admin_client, user):
    response = admin_client.patch(
        f"{USERS}{user.username}/", {"is_superuser": True}, format="json"
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_superuser and user.is_staff


def test_update_bad_password_saves_nothing(admin_client, user):
    response = admin_client.patch(
        f"{USERS}{user.username}/", {"email": "x@example.com", "password": "short"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()
    user.refresh_from_db()
    assert user.email != "x@example.com"
    assert user.check_password("password")


def test_admin_cannot_demote_itself(admin_client):
    me = admin_client.user
    response = admin_client.patch(f"{USERS}{me.username}/", {"is_superuser": False}, format="json")
    assert response.status_code == 400
    me.refresh_from_db()
    assert me.is_superuser


def test_user_cannot_update_itself(user_client):
    me = user_client.user
    response = user_client.patch(f"{USERS}{me.username}/", {"is_superuser": True}, format="json")
    assert response.status_code == 403
    me.refresh_from_db()
    assert not me.is_superuser


def test_put_not_allowed(admin_client, user):
    assert admin_client.put(f"{USERS}{user.username}/", {}, format="json").status_code == 405


def test_admin_deletes_user(admin_client, user):
    make_api_key(user)
    response = admin_client.delete(f"{USERS}{user.username}/")
    assert response.status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert not ApiKey.objects.filter(user_id=user.pk).exists()
    assert Event.objects.filter(type="user_deleted", user=admin_client.user).exists()


def test_admin_cannot_delete_itself(admin_client):
    response = admin_client.delete(f"{USERS}{admin_client.user.username}/")
    assert response.status_code == 400
    assert User.objects.filter(pk=admin_client.user.pk).exists()


def test_cannot_delete_owner_of_machines(admin_client, user):
    MachineFactory(owner=user)
    assert admin_client.delete(f"{USERS}{user.username}/").status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


def test_user_cannot_delete_users(user_client):
    other = UserFactory()
    assert user_client.delete(f"{USERS}{other.username}/").status_code == 403
    assert User.objects.filter(pk=other.pk).exists()


def test_username_with_dots_and_at(admin_client):
    UserFactory(username="first.last@corp")
    assert admin_client.get(f"{USERS}first.last@corp/").status_code == 200


# API keys


def test_create_key_shows_secret_once(user_client):
    response = user_client.post(KEYS, {"name": "laptop"}, format="json")
    assert response.status_code == 201
    body = response.json()
    consumer, token, secret = body["key"].split(":")
    assert body["consumer_key"] == consumer and body["token_key"] == token
    assert body["name"] == "laptop"
    assert bearer(body["key"]).get(f"{USERS}whoami/").status_code == 200
    listed = user_client.get(KEYS)
    assert listed.status_code == 200
    assert secret not in listed.content.decode()
    row = next(k for k in results(listed) if k["token_key"] == token)
    assert set(row) == {"name", "consumer_key", "token_key", "created", "last_used"}
    assert Event.objects.filter(type="apikey_created", user=user_client.user).exists()


def test_create_key_without_name(user_client):
    response = user_client.post(KEYS, {}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_list_shows_only_own_keys(user_client):
    other = UserFactory()
    make_api_key(other)
    tokens = {k["token_key"] for k in results(user_client.get(KEYS))}
    assert tokens == set(ApiKey.objects.filter(user=user_client.user).values_list(
        "token_key", flat=True))


def test_revoke_own_key(user_client):
    key = user_client.post(KEYS, {}, format="json").json()
    response = user_client.delete(f"{KEYS}{key['token_key']}/")
    assert response.status_code == 204
    assert bearer(key["key"]).get(f"{USERS}whoami/").status_code == 401
    assert Event.objects.filter(type="apikey_revoked").exists()


def test_cannot_revoke_others_key(user_client):
    other = UserFactory()
    token = make_api_key(other).split(":")[1]
    assert user_client.delete(f"{KEYS}{token}/").status_code == 404
    assert user_client.delete(f"{KEYS}{token}/?username={other.username}").status_code == 403
    assert ApiKey.objects.filter(token_key=token).exists()


def test_user_cannot_see_others_keys(user_client):
    other = UserFactory()
    assert user_client.get(f"{KEYS}?username={other.username}").status_code == 403
    assert user_client.get(f"{USERS}{other.username}/api-keys/").status_code == 403
    response = user_client.post(f"{USERS}{other.username}/api-keys/", {}, format="json")
    assert response.status_code == 403
    assert not ApiKey.objects.filter(user=other).exists()


def test_admin_manages_others_keys_by_query(admin_client, user):
    created = admin_client.post(f"{KEYS}?username={user.username}", {"name": "x"}, format="json")
    assert created.status_code == 201
    key = ApiKey.objects.get(token_key=created.json()["token_key"])
    assert key.user == user
    listed = admin_client.get(f"{KEYS}?username={user.username}")
    assert [k["token_key"] for k in results(listed)] == [key.token_key]
    deleted = admin_client.delete(f"{KEYS}{key.token_key}/?username={user.username}")
    assert deleted.status_code == 204
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_admin_manages_others_keys_by_user_route(admin_client, user):
    route = f"{USERS}{user.username}/api-keys/"
    created = admin_client.post(route, {"name": "ci"}, format="json")
    assert created.status_code == 201
    token = created.json()["token_key"]
    assert [k["token_key"] for k in results(admin_client.get(route))] == [token]
    assert admin_client.delete(f"{route}{token}/").status_code == 204
    assert not ApiKey.objects.filter(token_key=token).exists()


def test_admin_keys_of_unknown_user(admin_client):
    assert admin_client.get(f"{USERS}nobody/api-keys/").status_code == 404


def test_user_route_for_own_keys(user_client):
    route = f"{USERS}{user_client.user.username}/api-keys/"
    assert user_client.get(route).status_code == 200


def test_admin_is_just_another_user_for_own_keys():
    admin = AdminFactory()
    client = bearer(make_api_key(admin))
    assert len(results(client.get(KEYS))) == 1
