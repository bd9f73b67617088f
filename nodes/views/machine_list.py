"""The console's machine list: filters, search, live status, and bulk actions through services.

Bulk actions run in two steps: POST /machines/action/ shows what will happen to which machines
(nothing changes yet); its Confirm button POSTs /machines/action/confirm/, which runs the
action's service on each machine in turn and shows each machine's outcome. The services check
permissions and the lifecycle, so a refusal is that machine's outcome, never a 500.
"""
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from maasproject.permissions import is_admin
from nodes import lifecycle
from nodes.choices import NodeStatus
from nodes.selectors import machines_visible_to
from nodes.selectors.machine_list import (
    FILTER_PARAMS,
    STATUS_GROUP_LABELS,
    deployable_releases,
    filter_choices,
    live_rows,
    machine_list_filtered,
    page_details,
)
from nodes.templatetags.console import status_class
from nodes.views.actions import action_params, refusal_text, run_action

# Django's Paginator (COUNT + LIMIT/OFFSET over the hostname index): cheap at 10,000 machines,
# and it gives the page numbers an operator expects.
PAGE_SIZE = 50
# The live endpoint answers at most this many machines (a page has PAGE_SIZE).
LIVE_MAX = 200
# The erase choices of a release: the select's value -> the API's release parameters.
ERASE_CHOICES = {
    "": ("the region's setting", {}),
    "none": ("no disk erase", {"erase": False}),
    "full": ("full disk erase", {"erase": True}),
    "quick": ("quick disk erase", {"erase": True, "quick_erase": True}),
    "secure": ("secure erase (else full)", {"erase": True, "secure_erase": True}),
    "secure-quick": ("secure erase (else quick)",
                     {"erase": True, "secure_erase": True, "quick_erase": True}),
}
COMMISSION_OPTIONS = ("enable_ssh", "skip_networking", "skip_storage")
# The form fields the confirmation page carries to the confirm POST.
PARAM_FIELDS = ("distro", "erase", "target_zone", "target_pool", "comment") + COMMISSION_OPTIONS


class BadParams(Exception):
    """The action's parameters are missing or wrong (shown on the list, nothing runs)."""


@dataclass(frozen=True)
class BulkAction:
    """An action of the list's bulk form: its label and how its form fields read."""

    label: str
    # The bulk form's fields -> (the API's parameters of the action, what they mean for
    # people). The API's serializers then check them (nodes.views.actions), as on the
    # machine page.
    form: Callable[[QueryDict], tuple[dict, str]]


def _no_params(data: QueryDict) -> tuple[dict, str]:
    return {}, ""


def _comment_as(field: str):
    def read(data: QueryDict) -> tuple[dict, str]:
        comment = data.get("comment", "").strip()
        return ({field: comment}, f"comment: {comment}") if comment else ({}, "")

    return read


def _commission(data: QueryDict) -> tuple[dict, str]:
    chosen = {name: True for name in COMMISSION_OPTIONS if data.get(name)}
    return chosen, ", ".join(name.replace("_", " ") for name in chosen)


def _deploy(data: QueryDict) -> tuple[dict, str]:
    """`distro` is "os/series", or empty for the region's default release."""
    distro = data.get("distro", "")
    if not distro:
        return {}, "the default release"
    osystem, _, series = distro.partition("/")
    if not osystem or not series:
        raise BadParams(f"Unknown release {distro!r}.")
    return {"osystem": osystem, "distro_series": series}, distro


def _release(data: QueryDict) -> tuple[dict, str]:
    choice = data.get("erase", "")
    if choice not in ERASE_CHOICES:
        raise BadParams(f"Unknown erase option {choice!r}.")
    note, params = ERASE_CHOICES[choice]
    return dict(params), note


def _target(field: str, what: str):
    def read(data: QueryDict) -> tuple[dict, str]:
        name = data.get(field, "")
        if not name:
            raise BadParams(f"Choose the {what} to move the machines to.")
        return {what: name}, f"{what} {name}"

    return read


BULK_ACTIONS: dict[str, BulkAction] = {
    "commission": BulkAction("Commission", _commission),
    "test": BulkAction("Test", _no_params),
    "deploy": BulkAction("Deploy", _deploy),
    "release": BulkAction("Release", _release),
    "abort": BulkAction("Abort", _comment_as("comment")),
    "mark-broken": BulkAction("Mark broken", _comment_as("description")),
    "mark-fixed": BulkAction("Mark fixed", _no_params),
    "lock": BulkAction("Lock", _comment_as("comment")),
    "unlock": BulkAction("Unlock", _no_params),
    "set-zone": BulkAction("Set zone", _target("target_zone", "zone")),
    "set-pool": BulkAction("Set pool", _target("target_pool", "pool")),
    "delete": BulkAction("Delete", _no_params),
}


def offered_actions(user) -> list[tuple[str, str]]:
    """(name, label) of the bulk actions the user may run: admin-only ones only to admins."""
    admin = is_admin(user)
    return [(name, action.label) for name, action in BULK_ACTIONS.items()
            if admin or lifecycle.ACTIONS[name].who != lifecycle.ADMIN]


@login_required
@require_GET
def machine_list(request):
    """A page of the machines the user may see, filtered and searched, with the bulk form."""
    params = {name: request.GET.get(name, "") for name in FILTER_PARAMS}
    page = Paginator(machine_list_filtered(request.user, params), PAGE_SIZE).get_page(
        request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    admin = is_admin(request.user)
    context = {
        "page": page, "machines": page_details(list(page.object_list)), "params": params,
        "kept_query": kept.urlencode(), "status_groups": STATUS_GROUP_LABELS.items(),
        "choices": filter_choices(request.user), "actions": offered_actions(request.user),
        "releases": deployable_releases(), "erase_choices": ERASE_CHOICES.items(),
        "admin": admin,
    }
    return render(request, "nodes/machine_list.html", context)


@login_required
@require_GET
def machine_list_live(request):
    """JSON: the status, status message and power state of the machines named in `ids`
    (comma-separated or repeated), those the user may see; the list polls it."""
    ids = [part for value in request.GET.getlist("ids") for part in value.split(",") if part]
    rows = live_rows(request.user, ids[:LIVE_MAX])
    for row in rows:
        row["status_name"] = NodeStatus(row["status"]).label
        row["status_class"] = status_class(row["status"])
    return JsonResponse({"machines": rows})


def _bulk_request(request) -> tuple[str, dict, str, list] | HttpResponse:
    """The action, its service's arguments and description, and the selected visible
    machines of a bulk POST; or the redirect back to the list saying what is wrong."""
    name = request.POST.get("action", "")
    system_ids = request.POST.getlist("system_ids")
    problem = None
    if name not in BULK_ACTIONS:
        problem = "Choose an action."
    elif not system_ids:
        problem = "Select at least one machine."
    else:
        try:
            data, note = BULK_ACTIONS[name].form(request.POST)
            kwargs = action_params(name, data)
        except BadParams as exc:
            problem = str(exc)
        except ValidationError as exc:
            problem = refusal_text(exc)
    if problem:
        messages.error(request, problem)
        return redirect("console-machine-list")
    machines = list(machines_visible_to(request.user).filter(system_id__in=system_ids))
    return name, kwargs, note, machines


@login_required
@require_POST
def machine_bulk_action(request):
    """The confirmation page of a bulk action: every selected machine and what will happen."""
    parsed = _bulk_request(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    name, _kwargs, note, machines = parsed
    context = {
        "action": name, "label": BULK_ACTIONS[name].label, "note": note, "machines": machines,
        "missing": sorted(set(request.POST.getlist("system_ids"))
                          - {machine.system_id for machine in machines}),
        "carried": [(field, request.POST[field]) for field in PARAM_FIELDS
                    if request.POST.get(field)],
    }
    return render(request, "nodes/machine_bulk_confirm.html", context)


@login_required
@require_POST
def machine_bulk_confirm(request):
    """Run a confirmed bulk action on each selected machine; show each one's outcome."""
    parsed = _bulk_request(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    name, kwargs, note, machines = parsed
    outcomes = {machine.system_id: run_action(name, machine.system_id, request.user, kwargs)
                or "done" for machine in machines}
    after = {machine.system_id: machine for machine in machines_visible_to(request.user).filter(
        system_id__in=list(outcomes))}
    results = [{"system_id": machine.system_id, "hostname": machine.hostname,
                "machine": after.get(machine.system_id), "outcome": outcomes[machine.system_id]}
               for machine in machines]
    missing = sorted(set(request.POST.getlist("system_ids")) - set(outcomes))
    context = {"label": BULK_ACTIONS[name].label, "note": note, "results": results,
               "missing": missing, "done": sum(r["outcome"] == "done" for r in results)}
    return render(request, "nodes/machine_bulk_results.html", context)


urlpatterns = [
    path("machines/", machine_list, name="console-machine-list"),
    path("machines/live/", machine_list_live, name="machine-list-live"),
    path("machines/action/", machine_bulk_action, name="machine-bulk-action"),
    path("machines/action/confirm/", machine_bulk_confirm, name="machine-bulk-confirm"),
]
