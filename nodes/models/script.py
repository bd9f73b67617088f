"""Commissioning and testing scripts, the script sets run on a machine, and their results."""
from django.core.exceptions import ValidationError
from django.db import models

from maasproject.validators import validate_name, validate_text
from nodes.choices import HardwareType, ResultType, ScriptParallel, ScriptStatus, ScriptType

FINAL_SCRIPT_STATUSES = frozenset({
    ScriptStatus.PASSED, ScriptStatus.FAILED, ScriptStatus.TIMEDOUT, ScriptStatus.ABORTED,
    ScriptStatus.SKIPPED,
})


class Script(models.Model):
    """A commissioning or testing script: built-in (default) or uploaded by an operator."""

    name = models.CharField(max_length=255, unique=True, validators=[validate_name])
    title = models.CharField(max_length=255, blank=True, default="", validators=[validate_name])
    description = models.TextField(blank=True, default="", validators=[validate_text])
    tags = models.JSONField(default=list, blank=True)
    script_type = models.CharField(max_length=16, choices=ScriptType.choices,
                                   default=ScriptType.TESTING)
    hardware_type = models.CharField(max_length=16, choices=HardwareType.choices,
                                     default=HardwareType.NODE)
    parallel = models.CharField(max_length=16, choices=ScriptParallel.choices,
                                default=ScriptParallel.DISABLED)
    timeout = models.PositiveIntegerField(default=0, help_text="seconds; 0 means no limit")
    destructive = models.BooleanField(default=False)
    parameters = models.JSONField(default=dict, blank=True)
    # Firmware-update metadata (MAAS's): run only on matching hardware (nodes/scripts/hardware.py
    # entries); the machine may reboot mid-script; the built-in scripts run again afterwards.
    for_hardware = models.JSONField(default=list, blank=True)
    may_reboot = models.BooleanField(default=False)
    recommission = models.BooleanField(default=False)
    # Always empty: packages cannot be installed in the ephemeral environment (refused on upload).
    packages = models.JSONField(default=dict, blank=True)
    # Built-in scripts ship with the region; they run by default and cannot be deleted.
    default = models.BooleanField(default=False)
    body = models.TextField(validators=[validate_text])
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Re-running the inventory is a commissioning job's: testing has no built-in scripts.
        if self.recommission and self.script_type != ScriptType.COMMISSIONING:
            raise ValidationError({"recommission": ["Only commissioning scripts can ask for the "
                                                    "built-in scripts to run again."]})


class ScriptSet(models.Model):
    """One run of scripts on a machine (a commissioning, testing or enlistment job)."""

    machine = models.ForeignKey("nodes.Machine", on_delete=models.CASCADE,
                                related_name="script_sets")
    result_type = models.CharField(max_length=16, choices=ResultType.choices)
    # Commissioning options: enable_ssh, skip_networking, skip_storage.
    options = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # Last sign of life from the runner; None until the runner first calls in.
    last_ping = models.DateTimeField(null=True, blank=True, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.result_type} #{self.pk} of {self.machine_id}"


class ScriptResult(models.Model):
    """The result of one script of a script set: status, exit status, output and runtime."""

    script_set = models.ForeignKey(ScriptSet, on_delete=models.CASCADE, related_name="results")
    # Kept when the script is deleted, so history survives; name is the record.
    script = models.ForeignKey(Script, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="results")
    script_name = models.CharField(max_length=255)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ScriptStatus.choices,
                              default=ScriptStatus.PENDING, db_index=True)
    exit_status = models.IntegerField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    ended = models.DateTimeField(null=True, blank=True)
    runtime = models.FloatField(null=True, blank=True, help_text="seconds")
    stdout = models.BinaryField(default=b"", blank=True)
    stderr = models.BinaryField(default=b"", blank=True)
    output = models.BinaryField(default=b"", blank=True, help_text="stdout and stderr combined")
    result = models.BinaryField(default=b"", blank=True, help_text="the script's result file")

    class Meta:
        ordering = ["script_set_id", "script_name"]
        constraints = [models.UniqueConstraint(fields=["script_set", "script_name"],
                                               name="unique_result_per_set")]

    def __str__(self) -> str:
        return f"{self.script_name}: {self.status}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_SCRIPT_STATUSES
