"""Shared list filters and paging: a bad filter or paging value is a 400 field error."""
import pytest

from nodes.models import Event

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/events/"


@pytest.mark.parametrize("params", [
    {"before": "0001-01-01T00:00:00+05:00"}, {"after": "9999-12-31T23:59:59-05:00"},
    {"before": "abc"}, {"before": "2024-01-01T00:00:00+99:99"},
])
def test_dates_out_of_range_or_malformed_are_400(user_client, params):
    Event.objects.create(type="x", description="d")
    response = user_client.get(EVENTS, params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == list(params)


def test_dates_with_offsets_filter(admin_client):
    Event.objects.create(type="x", description="d")
    assert admin_client.get(EVENTS, {"before": "2000-01-01T05:00:00+05:00"}).json()["count"] == 0
    assert admin_client.get(EVENTS, {"after": "2000-01-01T05:00:00+05:00"}).json()["count"] == 1


@pytest.mark.parametrize("params", [
    {"limit": "x"}, {"limit": "0"}, {"limit": "-1"}, {"offset": "-3"}, {"offset": "1.5"},
    {"offset": "٣"},
])
def test_paging_values_that_are_no_count_are_400(user_client, params):
    response = user_client.get(EVENTS, params)
    assert response.status_code == 400 and list(response.json()) == list(params)


def test_paging_within_bounds(admin_client):
    for n in range(3):
        Event.objects.create(type="x", description=str(n))
    body = admin_client.get(EVENTS, {"limit": "2", "offset": "1"}).json()
    assert body["count"] == 3 and len(body["results"]) == 2
    assert len(admin_client.get(EVENTS, {"limit": "99999999999999999999"}).json()["results"]) == 3
    assert admin_client.get(EVENTS, {"offset": "99999999999999999999"}).json()["results"] == []
