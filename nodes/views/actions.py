"""Running a lifecycle action from the console, for the machine page and the bulk form alike.

The parameters are checked by the API's own serializers (the same rules as the REST API) and the
action runs through its service; what the service refuses becomes one line of text for the
page, never a 500.
"""
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from maasproject.backends import unavailable_backend
from maasproject.errors import ServiceError
from nodes.api import serializers as s
from nodes.selectors.allocation import AllocationConstraints
from nodes.services.action_registry import ACTION_SERVICES

ACTION_PARAMS = {
    "commission": s.CommissionParams, "test": s.TestingParams, "abort": s.AbortParams,
    "deploy": s.DeployParams, "release": s.ReleaseParams, "mark-broken": s.MarkBrokenParams,
    "lock": s.CommentParams, "power-off": s.PowerOffParams, "set-zone": s.SetZoneParams,
    "set-pool": s.SetPoolParams,
}
NOT_PARAMS = frozenset({"action", "csrfmiddlewaretoken", "system_ids"})
REFUSALS = (ServiceError, ValidationError, TransitionNotAllowed, ConcurrentTransition,
            ObjectDoesNotExist)
BROKER_DOWN = "The message broker is unavailable: nothing was done; try again shortly."


def action_params(name: str, data) -> dict:
    """The service's keyword arguments from form data (ValidationError, by field, if wrong)."""
    body = ACTION_PARAMS.get(name, s.NoParams)(
        data={key: value for key, value in data.items() if key not in NOT_PARAMS})
    if not body.is_valid():
        raise ValidationError({key: [str(error) for error in errors]
                               for key, errors in body.errors.items()})
    return body.validated_data


def run_action(name: str, system_id: str, user, params: dict) -> str | None:
    """Run the action on one machine: None when done, else why not (nothing changed).

    Each call is the service's own transaction, so in a bulk run one machine's refusal rolls
    back that machine's action only.
    """
    try:
        if name == "allocate":  # allocation picks among constraints: this very machine
            ACTION_SERVICES[name].service(user, AllocationConstraints(system_id=system_id))
        else:
            ACTION_SERVICES[name].service(system_id, user, **params)
    except REFUSALS as exc:
        return refusal_text(exc)
    except Exception as exc:
        if unavailable_backend(exc) != "broker":
            raise
        return BROKER_DOWN
    return None


def refusal_text(exc: Exception) -> str:
    """A refusal as one line."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(errors)}"
                             for field, errors in exc.message_dict.items())
        return " ".join(exc.messages)
    if isinstance(exc, ConcurrentTransition):
        return "The machine changed meanwhile; reload the page and try again."
    if isinstance(exc, ObjectDoesNotExist):
        return "This machine no longer exists."
    return str(exc)
