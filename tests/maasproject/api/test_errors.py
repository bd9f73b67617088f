"""The shared exception handler answers every app's ServiceError with its own status and body."""
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError
from rest_framework.exceptions import NotAuthenticated

from maasproject.api.errors import exception_handler
from maasproject.errors import Conflict, FieldErrors, InUseError, NotPermitted, ServiceError
from maasproject.settings import base
from nodes.choices import NodeStatus
from nodes.services.errors import ActionNotAllowed, InvalidConstraint, NoMatchingMachine
from power.services.parameters import PowerParametersInvalid
from tests.factories import MachineFactory
from zones.models import Zone


def answer(exc):
    response = exception_handler(exc, {})
    return response.status_code, response.data


@pytest.mark.parametrize("exc,status", [
    (ServiceError("no"), 400), (NotPermitted("no"), 403), (Conflict("no"), 409),
    (InUseError("still used"), 409), (NoMatchingMachine("none"), 409),
])
def test_service_errors_answer_their_status_with_the_message(exc, status):
    assert answer(exc) == (status, {"detail": str(exc)})


def test_field_errors_answer_400_keyed_by_field():
    errors = {"zone": ["No such zone: 'x'."]}
    assert answer(FieldErrors(errors)) == (400, errors)
    assert answer(InvalidConstraint(errors)) == (400, errors)


def test_power_parameter_errors_sit_under_power_type_or_power_parameters():
    assert answer(PowerParametersInvalid({"power_type": ["Unknown."]})) == (
        400, {"power_type": ["Unknown."]})
    assert answer(PowerParametersInvalid({"power_port": ["Bad."]})) == (
        400, {"power_parameters": {"power_port": ["Bad."]}})


@pytest.mark.django_db
def test_action_not_allowed_says_what_is_allowed():
    machine = MachineFactory(status=NodeStatus.DEPLOYED)
    status, body = answer(ActionNotAllowed(machine, "commission"))
    assert status == 409
    assert body["status_name"] == "Deployed" and "release" in body["allowed_actions"]
    assert body["detail"].startswith(f"Cannot commission machine {machine.system_id}")


def test_django_validation_errors_are_400():
    assert answer(ValidationError({"name": ["Taken."]})) == (400, {"name": ["Taken."]})
    assert answer(ValidationError("Bad.")) == (400, {"non_field_errors": ["Bad."]})


def test_other_exceptions_go_to_drf():
    assert answer(NotAuthenticated())[0] == 401
    assert exception_handler(KeyError("x"), {}) is None


def test_a_value_the_database_refuses_is_400_not_500():
    status, body = answer(DataError("invalid byte sequence for encoding UTF8: 0x00"))
    assert status == 400 and "0x00" not in body["detail"]


def test_the_body_limit_is_4_mib():
    assert base.DATA_UPLOAD_MAX_MEMORY_SIZE == 4 * 1024 * 1024


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_limit_is_a_json_413(admin_client, settings, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    if content_type == "application/json":
        body = json.dumps({"name": "big", "description": "x" * 2048})
    else:
        body = "name=big&description=" + "x" * 2048
    response = admin_client.post("/api/v1/zones/", body, content_type=content_type)
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "larger than the limit of 1024 bytes" in response.json()["detail"]
    assert not Zone.objects.filter(name="big").exists()
