"""Filters every app's API lists share: a value is checked before it reaches a query (400)."""
from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date and time that still exists once converted to UTC."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError as exc:
                raise ValidationError("Out of range once converted to UTC.",
                                      code="invalid") from exc
        return value


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter, refusing dates out of range in UTC."""

    field_class = UtcIsoDateTimeField


class IPAddressFilter(django_filters.CharFilter):
    """An exact IPv4 or IPv6 address; anything else is a 400."""

    field_class = forms.GenericIPAddressField
