"""The boot image import's shared record: its last run and the stop request every region sees.

One row (pk 1). Whether an import runs right now is not read from it but from the import marker
(nodes.services.import_marker), which a dead worker cannot leave behind.
"""
from django.db import models

from nodes.choices import BootImportState

SINGLETON = 1


class BootImport(models.Model):
    """The last (or current) boot image import: state, times, last progress line, stop flag."""

    state = models.CharField(max_length=16, choices=BootImportState.choices, blank=True,
                             default=BootImportState.NONE)
    requested = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    ended = models.DateTimeField(null=True, blank=True)
    # Set by stop_import; the running import checks it between build steps and stops.
    cancel_requested = models.BooleanField(default=False)
    message = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"boot import: {self.state or 'never run'}"

    @classmethod
    def current(cls) -> "BootImport":
        """The one row, created on first use."""
        row, _ = cls.objects.get_or_create(pk=SINGLETON)
        return row
