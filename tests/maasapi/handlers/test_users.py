"""users/: whoami for all, listing and creating for administrators, MAAS's codes."""
import pytest
from django.contrib.auth import get_user_model

from tests.maasapi.conftest import API

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_admins_create_and_delete_users_users_see_themselves(maas_admin, maas_user):
    created = maas_admin.post(API + "users/", {"username": "carol", "email": "c@example.com",
                                               "password": "a-Long-pass-42",
                                               "is_superuser": "0"})
    assert created.status_code == 200, created.content
    assert created.json()["is_superuser"] is False
    assert [u["username"] for u in maas_user.get(API + "users/").json()] == [
        maas_user.user.username]
    assert maas_user.get(API + "users/carol/").status_code == 403
    assert maas_user.post(API + "users/", {"username": "x", "password": "p"}).status_code == 403
    assert maas_admin.delete(API + "users/carol/").status_code == 204
    assert not User.objects.filter(username="carol").exists()


def test_a_bad_boolean_is_a_field_error(maas_admin):
    response = maas_admin.post(API + "users/", {"username": "dave", "password": "a-Long-pass-42",
                                                "is_superuser": "perhaps"})
    assert response.status_code == 400 and "is_superuser" in response.json()
    assert not User.objects.filter(username="dave").exists()
