"""A backend down answers a JSON 503 with Retry-After: DRF views and any other view."""
import json

import pytest
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from kombu.exceptions import OperationalError as BrokerError

from maasproject.api.errors import exception_handler
from maasproject.api.unavailable import RETRY_AFTER_SECONDS, BackendUnavailableMiddleware


@pytest.mark.parametrize("exc,word", [
    (OperationalError("connection refused"), "database"),
    (InterfaceError("connection already closed"), "database"),
    (BrokerError("Error 111 connecting to 127.0.0.1:1"), "broker"),
    (redis.exceptions.ConnectionError("refused"), "broker"),
])
def test_the_exception_handler_answers_503_with_retry_after(exc, word):
    response = exception_handler(exc, {})
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert word in response.data["detail"] and "unavailable" in response.data["detail"]


def test_other_errors_are_left_to_drf():
    assert exception_handler(ValueError("bug"), {}) is None


def test_the_middleware_answers_a_plain_view_the_same_way():
    middleware = BackendUnavailableMiddleware(lambda request: None)
    request = RequestFactory().get("/admin/")
    response = middleware.process_exception(request, OperationalError("gone"))
    assert response.status_code == 503 and response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Content-Type"] == "application/json"
    assert "database unavailable" in json.loads(response.content)["detail"]
    assert middleware.process_exception(request, ValueError("bug")) is None


@pytest.mark.django_db
def test_an_api_view_whose_query_fails_answers_503(admin_client, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr("nodes.api.views.MachineViewSet.list", refused, raising=False)
    response = admin_client.get("/api/v1/machines/")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "database unavailable" in response.json()["detail"]
