"""Filters for the machine and event lists."""
import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, QuerySet
from rest_framework.exceptions import ValidationError

from maasproject.api.filters import IsoDateTimeFilter
from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.models.hardware import normalise_mac


def parse_status(value: str) -> int:
    """Accept a status code, a constant name (`failed_commissioning`) or a display name."""
    text = value.strip()
    if text.isdigit() and int(text) in NodeStatus.values:
        return int(text)
    key = text.lower().replace(" ", "_")
    for status in NodeStatus:
        if key in (status.name.lower(), status.label.lower().replace(" ", "_")):
            return status.value
    raise ValidationError({"status": [f"Unknown status '{value}'."]})


class MachineFilter(django_filters.FilterSet):
    status = django_filters.CharFilter(method="filter_status")
    hostname = django_filters.CharFilter(field_name="hostname", lookup_expr="iexact")
    hostname_contains = django_filters.CharFilter(field_name="hostname", lookup_expr="icontains")
    zone = django_filters.CharFilter(field_name="zone__name")
    pool = django_filters.CharFilter(field_name="pool__name")
    owner = django_filters.CharFilter(field_name="owner__username")
    tags = django_filters.CharFilter(method="filter_tags")
    mac_address = django_filters.CharFilter(method="filter_mac")
    architecture = django_filters.CharFilter(field_name="architecture")

    class Meta:
        model = Machine
        fields = ["status", "hostname", "zone", "pool", "owner", "tags", "mac_address"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status__in=[parse_status(v) for v in value.split(",")])

    def filter_tags(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Every listed tag must be present (comma-separated or repeated ?tags=).
        names = {n for raw in self.data.getlist("tags") for n in raw.split(",") if n}
        through = Machine.tags.through.objects
        for tag in sorted(names):
            # EXISTS rather than a join: no DISTINCT, so counting and paging stay cheap.
            queryset = queryset.filter(
                Exists(through.filter(machine_id=OuterRef("pk"), tag__name=tag))
            )
        return queryset

    def filter_mac(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        try:
            mac = normalise_mac(value)
        except DjangoValidationError as exc:
            raise ValidationError({"mac_address": [f"'{value}' is not a valid MAC."]}) from exc
        return queryset.filter(interfaces__mac_address=mac)


class EventFilter(django_filters.FilterSet):
    machine = django_filters.CharFilter(field_name="machine__system_id")
    hostname = django_filters.CharFilter(field_name="hostname")
    type = django_filters.CharFilter(field_name="type")
    level = django_filters.CharFilter(method="filter_level")
    after = IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    before = IsoDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["machine", "hostname", "type", "level", "after", "before"]

    def filter_level(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        names = {level.label: level.value for level in EventLevel}
        level = names.get(value.upper())
        if level is None:
            raise ValidationError({"level": [f"Unknown level '{value}'; one of {sorted(names)}."]})
        return queryset.filter(level=level)
