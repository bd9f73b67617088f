"""Serializer fields every app's API shares: names and text the database can store."""
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from maasproject.validators import validate_name, validate_text


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField turns a JSON number into its digits."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false, and only those: DRF's BooleanField also takes 0, 1, "yes", "on"..."""

    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class NameField(StrictCharField):
    """A one-line name: no control characters."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_name)


class TextField(StrictCharField):
    """Free text: line breaks and tabs allowed, no NUL or other control characters."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_text)


class NameRelatedField(serializers.SlugRelatedField):
    """An object given by its name (or another slug), checked before the query."""

    def __init__(self, slug_field: str = "name", **kwargs) -> None:
        super().__init__(slug_field=slug_field, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            validate_name(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return super().to_internal_value(data)
