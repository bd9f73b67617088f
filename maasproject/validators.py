"""Validators every app's models and serializers share: text the database can store."""
import re

from django.core.exceptions import ValidationError

# C0 and C1 control characters, DEL, and lone surrogates (not encodable as UTF-8).
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Multi-line text keeps tabs and line breaks; NUL and the rest are refused.
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def validate_name(value) -> None:
    """Refuse control characters (NUL, tab, newline...) in a one-line name."""
    if isinstance(value, str) and _NOT_IN_NAMES.search(value):
        raise ValidationError("Must not contain control characters (NUL, tab, newline...).",
                              code="control_characters")


def validate_text(value) -> None:
    """Refuse NUL and control characters other than tab and line breaks in free text."""
    if isinstance(value, str) and _NOT_IN_TEXT.search(value):
        raise ValidationError("Must not contain NUL or control characters.",
                              code="control_characters")
