"""The machine admin addressed by system_id (/admin/nodes/machine/<system_id>/change/), with
the machine's latest events on its change page."""
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from nodes.models import Event, Machine

RECENT_EVENTS = 20


class SystemIdChangeList(ChangeList):
    """Rows link to the machine's system_id, the name operators and the API use."""

    def url_for_result(self, result: Machine) -> str:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        return reverse(name, args=(quote(result.system_id),),
                       current_app=self.model_admin.admin_site.name)


class SystemIdAdminMixin:
    """Change, history and delete pages find a machine by system_id (a numeric id still works)."""

    def get_changelist(self, request, **kwargs):
        return SystemIdChangeList

    def get_object(self, request, object_id, from_field=None):
        if from_field is None:
            machine = self.get_queryset(request).filter(system_id=object_id).first()
            if machine is not None:
                return machine
        return super().get_object(request, object_id, from_field)


def recent_events_html(machine: Machine) -> str:
    """The machine's latest events as a small table, and a link to all of them."""
    if machine.pk is None:
        return "-"
    events = Event.objects.filter(machine=machine).order_by("-created", "-id")[:RECENT_EVENTS]
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((event.created.strftime("%Y-%m-%d %H:%M:%S"), event.get_level_display(), event.type,
          event.description) for event in events))
    everything = reverse("admin:nodes_event_changelist") + f"?machine__id__exact={machine.pk}"
    return format_html(
        '<table id="machine-events"><tr><th>Time</th><th>Level</th><th>Type</th>'
        '<th>Description</th></tr>{}</table><p><a href="{}">All events of this machine</a> · '
        '<a href="/machine/{}/">Machine page</a></p>', rows or "", everything, machine.system_id)
