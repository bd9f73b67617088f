"""Routing, op dispatch, authentication and errors of /MAAS/api/2.0/."""
import pytest
from django.test import Client

from tests.factories import UserFactory, make_api_key
from tests.maasapi.conftest import API, MaasClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("style", ["libmaas", "gomaasapi"])
def test_both_client_signatures_authenticate(style):
    user = UserFactory(username="alice")
    response = MaasClient(make_api_key(user), style).get(API + "users/", {"op": "whoami"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"username": "alice", "email": user.email, "is_superuser": False,
                               "is_local": True, "resource_uri": API + "users/alice/"}


def test_a_bad_or_missing_key_is_401_with_a_challenge():
    user = UserFactory()
    consumer, token, _secret = make_api_key(user).split(":")
    for client in (Client(), MaasClient(f"{consumer}:{token}:wrong")):
        response = client.get(API + "users/", {"op": "whoami"})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("OAuth")
        assert response.content.startswith(b"Authorization Error")


def test_unknown_ops_paths_and_the_old_api(maas_user):
    response = maas_user.get(API + "users/", {"op": "nonsense"})
    assert (response.status_code, response.content) == (
        400, b"Unrecognised signature: method=GET op=nonsense")
    response = maas_user.post(API + "users/?op=whoami")  # whoami is a GET op
    assert response.content == b"Unrecognised signature: method=POST op=whoami"
    response = maas_user.get(API + "no-such-thing/")
    assert (response.status_code, response.content) == (
        404, b"Unknown API endpoint: /MAAS/api/2.0/no-such-thing/.")
    assert Client().get("/MAAS/api/1.0/machines/").status_code == 410
    assert maas_user.put(API + "users/").status_code == 405


def test_an_empty_op_is_plain_crud_and_op_may_come_in_the_body(maas_admin):
    response = maas_admin.post(API + "zones/?op=", {"name": "z1", "description": "d"})
    assert response.status_code == 200 and response.json()["name"] == "z1"
    response = maas_admin.post(API + "maas/", {"op": "set_config", "name": "maas_name",
                                               "value": "lab"})
    assert (response.status_code, response.content) == (200, b"OK")
    assert maas_admin.get(API + "maas/", {"op": "get_config", "name": "maas_name"}).json() == "lab"


def test_version_and_describe_need_no_key():
    version = Client().get(API + "version/")
    assert version.status_code == 200 and "authenticate-api" in version.json()["capabilities"]
    assert version.json()["version"].count(".") == 2
    describe = Client().get(API + "describe/", HTTP_HOST="region.example:5240")
    assert describe["Content-Type"] == "application/json"
    body = describe.json()
    by_name = {resource["name"]: resource for resource in body["resources"]}
    assert by_name["VersionHandler"]["anon"]["path"] == API + "version/"
    assert by_name["VersionHandler"]["auth"] is None
    zone = by_name["ZoneHandler"]["auth"]
    assert zone["uri"] == "http://region.example:5240/MAAS/api/2.0/zones/{name}/"
    assert zone["params"] == ["name"]
    actions = {action["name"]: action for action in zone["actions"]}
    assert actions["read"] == {"name": "read", "method": "GET", "op": None, "restful": True,
                               "doc": "Read a zone."}
    assert ":param description:" in actions["update"]["doc"]
    whoami = {a["name"]: a for a in by_name["UsersHandler"]["auth"]["actions"]}["whoami"]
    assert (whoami["method"], whoami["op"], whoami["restful"]) == ("GET", "whoami", False)
    assert len(body["handlers"]) == len(body["resources"]) and len(body["hash"]) == 40


def test_authenticate_gives_a_working_key_and_403_on_a_bad_password(login_failures):
    user = UserFactory(username="bob")
    user.set_password("s3cret-pass")
    user.save()
    bad = Client().post("/MAAS/accounts/authenticate/", {"username": "bob", "password": "x"})
    assert (bad.status_code, bad.content) == (403, b"")
    good = Client().post("/MAAS/accounts/authenticate/",
                         {"username": "bob", "password": "s3cret-pass", "consumer": "bob@cli"})
    assert good.status_code == 200
    parts = good.json()
    assert parts["name"] == "bob@cli"
    key = f"{parts['consumer_key']}:{parts['token_key']}:{parts['token_secret']}"
    assert MaasClient(key).get(API + "users/", {"op": "whoami"}).json()["username"] == "bob"


def _every_action():
    from maasapi.handlers import HANDLERS

    for handler in HANDLERS:
        for action in handler.actions():
            yield pytest.param(handler, action, id=f"{handler.name}.{action.name}")


@pytest.mark.parametrize(("handler", "action"), list(_every_action()))
def test_every_action_but_the_anonymous_ones_wants_a_key(handler, action):
    path = handler.uri(**{name: "x1" for name in handler.params()})
    query = f"?op={action.op}" if action.op else ""
    response = getattr(Client(), action.method.lower())(path + query)
    if handler.anonymous:
        assert response.status_code == 200
    else:
        assert response.status_code == 401, response.content
        assert "WWW-Authenticate" in response


@pytest.fixture
def login_failures():
    """The test client's address starts and ends with no failed logins counted (keys, not
    cache.clear(): with Redis the cache shares the broker's database)."""
    from maasapi.urls import LOGIN_FAILURES

    LOGIN_FAILURES.reset("127.0.0.1")
    yield
    LOGIN_FAILURES.reset("127.0.0.1")


def test_password_guessing_is_throttled_per_address(login_failures):
    UserFactory(username="eve")
    for _ in range(10):
        assert Client().post("/MAAS/accounts/authenticate/",
                             {"username": "eve", "password": "guess"}).status_code == 403
    throttled = Client().post("/MAAS/accounts/authenticate/",
                              {"username": "eve", "password": "guess"})
    assert throttled.status_code == 429 and throttled["Retry-After"] == "60"
