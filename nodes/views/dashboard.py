"""Web pages (session login): a dashboard of machines by status."""
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from nodes.choices import NodeStatus
from nodes.selectors import events_visible_to, machines_visible_to


@login_required
def dashboard(request):
    """Machine counts by status, the latest machines and the latest events."""
    machines = machines_visible_to(request.user)
    counts = dict(machines.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    context = {
        "status_counts": [(NodeStatus(code).label, n) for code, n in sorted(counts.items())],
        "machines": machines.order_by("hostname")[:50],
        "total": machines.count(),
        "events": events_visible_to(request.user)[:20],
    }
    return render(request, "dashboard.html", context)
