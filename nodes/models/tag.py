"""Tags: labels on machines, with kernel options applied when they boot."""
from django.core.validators import RegexValidator
from django.db import models

from maasproject.validators import validate_name, validate_text

tag_name_validator = RegexValidator(
    r"^[\w-]{1,256}$", "A tag name is letters, digits, underscores or hyphens."
)


class Tag(models.Model):
    """A label used by allocation constraints and to add kernel options."""

    name = models.CharField(max_length=256, unique=True,
                            validators=[tag_name_validator, validate_name])
    comment = models.TextField(blank=True, default="", validators=[validate_text])
    kernel_opts = models.TextField(blank=True, default="", validators=[validate_name])
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
