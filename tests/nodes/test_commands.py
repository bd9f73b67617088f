"""Management commands createadmin and apikey."""
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from nodes.models import ApiKey, Event
from tests.factories import AdminFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_createadmin_with_password():
    out = run("createadmin", "--username", "root", "--email", "root@example.com",
              "--password", "long-enough-pass")
    assert "Created administrator root." in out
    assert "long-enough-pass" not in out
    user = User.objects.get(username="root")
    assert user.is_superuser and user.is_staff and user.email == "root@example.com"
    assert user.check_password("long-enough-pass")
    assert Event.objects.filter(type="user_created", machine=None).exists()


def test_createadmin_generates_and_prints_password():
    out = run("createadmin", "--username", "root")
    lines = out.strip().splitlines()
    assert lines[0] == "Created administrator root."
    assert lines[1].startswith("Password: ")
    password = lines[1].removeprefix("Password: ")
    assert len(password) >= 12
    assert User.objects.get(username="root").check_password(password)


def test_createadmin_existing_user_fails():
    UserFactory(username="root")
    with pytest.raises(CommandError, match="already exists"):
        run("createadmin", "--username", "root", "--password", "long-enough-pass")
    assert not User.objects.get(username="root").is_superuser


def test_createadmin_bad_password_fails():
    with pytest.raises(CommandError, match="too short"):
        run("createadmin", "--username", "root", "--password", "short")
    assert not User.objects.filter(username="root").exists()


def test_createadmin_if_missing_does_nothing_when_an_admin_exists():
    AdminFactory(username="boss")
    out = run("createadmin", "--username", "root", "--if-missing")
    assert "already exists" in out
    assert not User.objects.filter(username="root").exists()


def test_createadmin_if_missing_creates_the_first_admin():
    out = run("createadmin", "--username", "root", "--password", "long-enough-pass",
              "--if-missing")
    assert "Created administrator root." in out
    assert User.objects.get(username="root").is_superuser


def test_createadmin_if_missing_is_idempotent():
    run("createadmin", "--username", "root", "--if-missing")
    run("createadmin", "--username", "root", "--if-missing")
    assert User.objects.filter(is_superuser=True).count() == 1


def test_createadmin_requires_username():
    with pytest.raises(CommandError):
        run("createadmin")


def test_apikey_prints_only_a_working_key():
    user = UserFactory(username="ci")
    out = run("apikey", "--username", "ci", "--name", "pipeline")
    assert out.endswith("\n") and out.count("\n") == 1
    key = out.strip()
    consumer, token, secret = key.split(":")
    stored = ApiKey.objects.get(token_key=token)
    assert stored.user == user and stored.name == "pipeline" and stored.consumer_key == consumer
    assert secret not in stored.secret_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/users/whoami/").json()["username"] == "ci"
    assert Event.objects.filter(type="apikey_created").exists()


def test_apikey_unknown_user():
    with pytest.raises(CommandError, match="No user named ghost"):
        run("apikey", "--username", "ghost")
    assert not ApiKey.objects.exists()


def test_apikey_inactive_user():
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        run("apikey", "--username", "gone")
    assert not ApiKey.objects.exists()
