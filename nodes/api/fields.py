"""Serializer fields of the nodes API: a MAC address, wherever one is accepted."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from nodes.models.hardware import unicast_mac


class MacAddressField(serializers.CharField):
    """A unicast MAC given as a string, answered in lowercase colon form."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 17)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                f"'{data}' is not a MAC address: give it as a string like 52:54:00:12:34:56.")
        if data == "" and self.allow_blank:
            return ""
        try:
            return unicast_mac(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
