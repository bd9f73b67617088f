"""The shared validators: names refuse every control character, text keeps line breaks."""
import pytest
from django.core.exceptions import ValidationError

from maasproject.validators import validate_name, validate_text


@pytest.mark.parametrize("value", ["a\x00b", "line\n", "tab\there", "del\x7f", "c1\x85",
                                   "\ud800"])
def test_names_refuse_control_characters(value):
    with pytest.raises(ValidationError, match="control characters"):
        validate_name(value)


@pytest.mark.parametrize("value", ["a\x00b", "bell\x07", "\udfff"])
def test_text_refuses_nul_and_control_characters(value):
    with pytest.raises(ValidationError, match="control characters"):
        validate_text(value)


def test_ordinary_values_pass():
    validate_name("rack-1 (room A) é")
    validate_text("two\nlines\twith a tab\r\n")
    validate_name(42)  # not text: other validators judge it
