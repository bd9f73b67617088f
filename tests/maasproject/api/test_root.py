"""GET /api/v1/ lists the API's endpoints to an authenticated client."""
from urllib.parse import urlsplit

import pytest
from django.urls import resolve


@pytest.mark.django_db
def test_anonymous_gets_401(anon_client):
    response = anon_client.get("/api/v1/")
    assert response.status_code == 401


def test_admin_gets_the_endpoints_as_absolute_urls(admin_client):
    response = admin_client.get("/api/v1/")
    assert response.status_code == 200
    endpoints = response.json()
    for name in ("machines", "machines/allocate", "zones", "pools", "subnets", "racks", "tags",
                 "events", "users", "account/api-keys", "boot-resources", "scripts",
                 "power-types", "schema", "docs"):
        assert endpoints[name] == f"http://testserver/api/v1/{name}/", name
    # The racks' and the machines' own APIs (other credentials) are not listed.
    assert not [name for name in endpoints if name.startswith(("rack/", "metadata/"))]


def test_each_listed_url_resolves_and_answers(admin_client):
    for name, url in admin_client.get("/api/v1/").json().items():
        path = urlsplit(url).path
        resolve(path)
        # 405: an endpoint that only takes POST (machines/allocate).
        assert admin_client.get(path).status_code in (200, 405), name


def test_a_user_sees_the_root_too(user_client):
    assert user_client.get("/api/v1/").status_code == 200
