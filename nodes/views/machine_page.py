"""The machine page: summary, actions, hardware, script results, boot timeline and events."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from nodes import lifecycle
from nodes.models import Machine, ScriptResult
from nodes.selectors.machine_page import machine_page, machine_result, visible_machine
from nodes.views.actions import action_params, refusal_text, run_action


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
        refusal = run_action(name, machine.system_id, request.user,
                             action_params(name, request.POST))
    except ValidationError as exc:
        refusal = refusal_text(exc)
    if refusal:
        messages.error(request, refusal)
        return redirect("machine-page", system_id=machine.system_id)
    messages.success(request, f"{name}: done for {machine.hostname}.")
    if name == "delete":
        return redirect("/machines/")
    return redirect("machine-page", system_id=machine.system_id)


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
