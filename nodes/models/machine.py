"""The Machine model and its lifecycle state machine (one transition per table action)."""
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django_fsm import GET_STATE, ConcurrentTransitionMixin, FSMIntegerField, transition

from maasproject.validators import validate_name, validate_text
from nodes import lifecycle
from nodes.architectures import validate_architecture
from nodes.choices import Firmware, NodeStatus, PowerState, StorageLayout
from zones.models import ResourcePool, Zone

# MAAS system ids: six characters from an alphabet without look-alikes.
SYSTEM_ID_ALPHABET = "abcdefghjkmnpqrstuvwxy3456789"
hostname_validator = RegexValidator(
    r"^(?!-)[a-z0-9-]{1,63}(?<!-)$",
    "A hostname is 1-63 lowercase letters, digits or hyphens, not starting or ending with one.",
)


def generate_system_id() -> str:
    return "".join(secrets.choice(SYSTEM_ID_ALPHABET) for _ in range(6))


def lifecycle_transition(action: str):
    """Build the django-fsm transition of a status-changing action from its table row."""
    rule = lifecycle.ACTIONS[action]
    if rule.target == lifecycle.UNCHANGED:
        raise ValueError(f"{action} leaves the status unchanged: it has no transition")

    def target_for(machine: "Machine", *args, **kwargs) -> int:
        if action == "release" and kwargs.get("erase"):
            return lifecycle.RELEASE_WITH_ERASE_TARGET
        return lifecycle.resolve_target(rule.target, machine.status, machine.previous_status)

    possible = sorted(NodeStatus.values) if isinstance(rule.target, str) else [rule.target]
    if action == "release":
        possible = [rule.target, lifecycle.RELEASE_WITH_ERASE_TARGET]

    def method(self: "Machine", **_kwargs) -> None:
        if rule.remember == lifecycle.SOURCE:
            self.previous_status = self.status
        elif rule.remember is not None:
            self.previous_status = rule.remember

    method.__name__ = action.replace("-", "_")
    method.__doc__ = f"Lifecycle transition for the `{action}` action."
    built = transition(
        field="status", source=sorted(rule.sources), target=GET_STATE(target_for, states=possible)
    )(method)
    built.lifecycle_action = action  # how TRANSITIONS finds it, by action name
    return built


def _outcome_method(name: str, index: int):
    """Build the transition that ends an in-progress status (index 0 success, 1 failure)."""

    def target_for(machine: "Machine", *args, **kwargs) -> int:
        target = lifecycle.IN_PROGRESS[machine.status][index]
        return lifecycle.resolve_target(target, machine.status, machine.previous_status)

    def method(self: "Machine", **_kwargs) -> None:
        return None

    method.__name__ = name
    return transition(
        field="status",
        source=sorted(lifecycle.IN_PROGRESS),
        target=GET_STATE(target_for, states=sorted(NodeStatus.values)),
    )(method)


class Machine(ConcurrentTransitionMixin, models.Model):
    """A physical server managed by the region, with its lifecycle status."""

    system_id = models.CharField(max_length=16, unique=True, default=generate_system_id)
    hostname = models.CharField(max_length=63, unique=True,
                                validators=[hostname_validator, validate_name])
    description = models.TextField(blank=True, default="", validators=[validate_text])
    architecture = models.CharField(max_length=64, default="amd64/generic",
                                    validators=[validate_architecture])
    cpu_count = models.PositiveIntegerField(default=0)
    cpu_speed = models.PositiveIntegerField(default=0, help_text="MHz")
    memory = models.PositiveIntegerField(default=0, help_text="MiB")
    status = FSMIntegerField(
        choices=NodeStatus.choices, default=NodeStatus.NEW, protected=True, db_index=True
    )
    previous_status = models.IntegerField(choices=NodeStatus.choices, null=True, blank=True)
    status_expires = models.DateTimeField(null=True, blank=True, db_index=True)
    error_description = models.TextField(blank=True, default="", validators=[validate_text])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="machines",
    )
    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, default=Zone.default_id)
    pool = models.ForeignKey(
        ResourcePool, on_delete=models.PROTECT, default=ResourcePool.default_id
    )
    tags = models.ManyToManyField("nodes.Tag", blank=True, related_name="machines")
    power_type = models.CharField(max_length=64, blank=True, default="manual")
    power_parameters = models.JSONField(default=dict, blank=True)
    power_state = models.CharField(
        max_length=16, choices=PowerState.choices, default=PowerState.UNKNOWN
    )
    power_state_updated = models.DateTimeField(null=True, blank=True)
    bmc = models.ForeignKey(
        "power.BMC", null=True, blank=True, on_delete=models.SET_NULL, related_name="machines"
    )
    # Stamped by the region that claims this machine for a power poll (several regions share).
    power_poll_claimed = models.DateTimeField(null=True, blank=True, db_index=True)
    osystem = models.CharField(max_length=64, blank=True, default="", validators=[validate_name])
    distro_series = models.CharField(max_length=64, blank=True, default="",
                                     validators=[validate_name])
    user_data = models.TextField(blank=True, default="", validators=[validate_text])
    netboot = models.BooleanField(default=True)
    # Seen when it netboots (DHCP option 93) and from commissioning: a UEFI machine gets IPMI's
    # EFI boot flag with power_boot_type "auto". Blank until known.
    firmware = models.CharField(max_length=8, choices=Firmware.choices, blank=True, default="")
    secure_boot = models.BooleanField(null=True, blank=True,
                                      help_text="Secure Boot on (from commissioning)")
    # How a deploy of a root tarball partitions the boot disk (nodes/storage_layouts.py); the
    # boot disk is one of the commissioned disks, or none: the deploy's first disk. A new
    # inventory replaces the disks, so the choice goes with them (SET_NULL).
    storage_layout = models.CharField(max_length=8, choices=StorageLayout.choices,
                                      default=StorageLayout.FLAT)
    boot_disk = models.ForeignKey("nodes.BlockDevice", null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    # The link whose subnet's gateway is the default IPv4 route (MAAS's gateway_link_ipv4): an
    # FK here makes "one per machine" hold by construction, and unlinking clears it.
    gateway_link_ipv4 = models.ForeignKey(
        "nodes.InterfaceLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.system_id})"

    @property
    def status_name(self) -> str:
        return NodeStatus(self.status).label

    # One transition per status-changing action of the table (tests/nodes/test_action_registry
    # checks that none is missing), named after the action.
    commission = lifecycle_transition("commission")
    test = lifecycle_transition("test")
    abort = lifecycle_transition("abort")
    allocate = lifecycle_transition("allocate")
    deploy = lifecycle_transition("deploy")
    release = lifecycle_transition("release")
    mark_broken = lifecycle_transition("mark-broken")
    mark_fixed = lifecycle_transition("mark-fixed")
    rescue_mode = lifecycle_transition("rescue-mode")
    exit_rescue_mode = lifecycle_transition("exit-rescue-mode")
    override_failed_testing = lifecycle_transition("override-failed-testing")
    retire = lifecycle_transition("retire")
    # The end of in-progress work (nodes.services.lifecycle.machine_finish).
    complete = _outcome_method("complete", 0)
    fail = _outcome_method("fail", 1)


# Status-changing action name -> its transition (nodes.services.lifecycle.apply_action runs it).
TRANSITIONS = {
    method.lifecycle_action: method
    for method in vars(Machine).values()
    if hasattr(method, "lifecycle_action")
}
