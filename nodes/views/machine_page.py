"""The machine page: summary, actions, hardware, script results, boot timeline and events."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from maasproject.backends import unavailable_backend
from maasproject.errors import ServiceError
from nodes import lifecycle
from nodes.api import serializers as s
from nodes.models import Machine, ScriptResult
from nodes.selectors.allocation import AllocationConstraints
from nodes.selectors.machine_page import machine_page, machine_result, visible_machine
from nodes.services.action_registry import ACTION_SERVICES

# Each action's parameters, validated by the API's own serializers (the same rules as the API).
ACTION_PARAMS = {
    "commission": s.CommissionParams, "test": s.TestingParams, "abort": s.AbortParams,
    "deploy": s.DeployParams, "release": s.ReleaseParams, "mark-broken": s.MarkBrokenParams,
    "lock": s.CommentParams, "power-off": s.PowerOffParams, "set-zone": s.SetZoneParams,
    "set-pool": s.SetPoolParams,
}
NOT_PARAMS = frozenset({"action", "csrfmiddlewaretoken"})


def _machine_or_404(user, system_id: str) -> Machine:
    try:
        return visible_machine(user, system_id)
    except Machine.DoesNotExist:
        raise Http404("No such machine.") from None


@login_required
@require_GET
def machine_detail(request, system_id: str):
    """The machine page (404 for a machine the user may not see)."""
    machine = _machine_or_404(request.user, system_id)
    context = {"machine": machine, **machine_page(request.user, machine)}
    return render(request, "nodes/machine_page.html", context)


@login_required
@require_POST
def machine_action(request, system_id: str):
    """Run one lifecycle action through its service; its refusal is shown, nothing changes."""
    machine = _machine_or_404(request.user, system_id)
    name = request.POST.get("action", "")
    if name not in lifecycle.ACTIONS:
        messages.error(request, f"Unknown action {name!r}.")
        return redirect("machine-page", system_id=machine.system_id)
    try:
        _run(name, machine.system_id, request.user, request.POST)
    except (ServiceError, ValidationError, TransitionNotAllowed, ConcurrentTransition) as exc:
        messages.error(request, _error_text(exc))
    except Exception as exc:
        if unavailable_backend(exc) != "broker":
            raise
        messages.error(request, "Message broker unavailable; nothing was done. Retry shortly.")
    else:
        messages.success(request, f"{name}: done for {machine.hostname}.")
        if name == "delete":
            return redirect("/machines/")
    return redirect("machine-page", system_id=machine.system_id)


def _run(name: str, system_id: str, user, data) -> None:
    """Validate the action's parameters and call its service."""
    body = ACTION_PARAMS.get(name, s.NoParams)(
        data={key: value for key, value in data.items() if key not in NOT_PARAMS})
    if not body.is_valid():
        raise ValidationError({key: [str(e) for e in errors]
                               for key, errors in body.errors.items()})
    if name == "allocate":  # allocation picks among constraints: this very machine
        ACTION_SERVICES[name].service(user, AllocationConstraints(system_id=system_id))
        return
    ACTION_SERVICES[name].service(system_id, user, **body.validated_data)


def _error_text(exc: Exception) -> str:
    """The refusal as one line for the messages list."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(errors)}"
                             for field, errors in exc.message_dict.items())
        return " ".join(exc.messages)
    if isinstance(exc, ConcurrentTransition):
        return "The machine changed meanwhile; reload the page and try again."
    return str(exc)


@login_required
@require_GET
def result_output(request, system_id: str, result_id: int):
    """One script result's stdout, stderr and result file."""
    machine = _machine_or_404(request.user, system_id)
    try:
        result = machine_result(machine, result_id)
    except ScriptResult.DoesNotExist:
        raise Http404("No such result.") from None
    outputs = [(key, bytes(getattr(result, key) or b"").decode("utf-8", "replace"))
               for key in ("stdout", "stderr", "result")]
    return render(request, "nodes/machine_result.html",
                  {"machine": machine, "result": result, "outputs": outputs})


urlpatterns = [
    path("machine/<str:system_id>/", machine_detail, name="machine-page"),
    path("machine/<str:system_id>/action/", machine_action, name="machine-action"),
    path("machine/<str:system_id>/results/<int:result_id>/", result_output,
         name="machine-result"),
]
