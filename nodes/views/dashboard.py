"""Web pages (session login): the dashboard of machines by status group, latest machines and
events."""
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from nodes.choices import NodeStatus
from nodes.selectors import events_visible_to, machines_visible_to
from nodes.selectors.machine_list import STATUS_GROUP_LABELS
from nodes.templatetags.console import status_group


@login_required
def dashboard(request):
    """Machine counts by status group (links into the filtered list), the latest machines and
    the latest events."""
    machines = machines_visible_to(request.user)
    by_status = dict(machines.order_by().values_list("status").annotate(n=Count("id")))
    groups = dict.fromkeys([*STATUS_GROUP_LABELS, "other"], 0)
    for code, count in by_status.items():
        groups[status_group(code)] += count
    context = {
        "total": sum(by_status.values()),
        "groups": [(key, STATUS_GROUP_LABELS.get(key, "Other"), groups[key]) for key in groups],
        "status_counts": [(NodeStatus(code).label, code, n)
                          for code, n in sorted(by_status.items())],
        "machines": machines.order_by("-created", "-id")[:20],
        "events": events_visible_to(request.user)[:20],
    }
    return render(request, "dashboard.html", context)
