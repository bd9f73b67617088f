"""POST /machines/{system_id}/<action>/: one endpoint per lifecycle action, named as in the table.

Allocate (nodes.api.allocation) and delete (MachineViewSet.destroy) have their own routes.
"""
from functools import wraps

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from nodes.api import serializers as s
from nodes.services import actions


def machine_action(name: str, params: type[serializers.Serializer]):
    """Make a method the endpoint of action `name`: it runs the service with the valid `params`.

    The endpoint answers with the machine as it is afterwards; the method must be named after the
    action (hyphens as underscores), so that a grep for either finds it.
    """

    def decorate(run):
        if run.__name__ != name.replace("-", "_"):
            raise ValueError(f"the endpoint of {name} is named {run.__name__}")

        @wraps(run)
        def view(self, request, system_id=None):
            machine = self.get_object()
            body = params(data=request.data)
            body.is_valid(raise_exception=True)
            run(self, machine.system_id, request.user, **body.validated_data)
            return Response(self.machine_body(machine.pk))

        view.lifecycle_action = name  # how tests/nodes/test_action_registry finds the endpoints
        described = extend_schema(request=params, responses=s.MachineSerializer, operation_id=name)
        return action(detail=True, methods=["post"], url_path=name, url_name=name)(described(view))

    return decorate


class MachineActionsMixin:
    """The lifecycle action endpoints of MachineViewSet (which gives get_object, machine_body)."""

    @machine_action("commission", s.CommissionParams)
    def commission(self, system_id: str, user, **params) -> None:
        """Commission: inventory (then any testing scripts) in the ephemeral environment."""
        actions.machine_commission(system_id, user, **params)

    @machine_action("test", s.TestingParams)
    def test(self, system_id: str, user, **params) -> None:
        """Test the hardware with testing scripts in the ephemeral environment."""
        actions.machine_test(system_id, user, **params)

    @machine_action("abort", s.AbortParams)
    def abort(self, system_id: str, user, **params) -> None:
        """Abort the work in progress: back to the status before it, powered off."""
        actions.machine_abort(system_id, user, **params)

    @machine_action("deploy", s.DeployParams)
    def deploy(self, system_id: str, user, **params) -> None:
        """Deploy an OS; a Ready machine is allocated to the user first."""
        actions.machine_deploy(system_id, user, **params)

    @machine_action("release", s.ReleaseParams)
    def release(self, system_id: str, user, **params) -> None:
        """Release: power off, optionally erase the disks, then Ready without an owner."""
        actions.machine_release(system_id, user, **params)

    @machine_action("mark-broken", s.MarkBrokenParams)
    def mark_broken(self, system_id: str, user, **params) -> None:
        """Mark broken; work in progress is stopped and the machine powered off."""
        actions.machine_mark_broken(system_id, user, **params)

    @machine_action("mark-fixed", s.NoParams)
    def mark_fixed(self, system_id: str, user) -> None:
        """Mark a broken machine fixed: back to Deployed or Ready."""
        actions.machine_mark_fixed(system_id, user)

    @machine_action("lock", s.CommentParams)
    def lock(self, system_id: str, user, **params) -> None:
        """Lock a deployed machine: every action but unlock is refused until unlocked."""
        actions.machine_lock(system_id, user, **params)

    @machine_action("unlock", s.NoParams)
    def unlock(self, system_id: str, user) -> None:
        """Unlock a locked machine."""
        actions.machine_unlock(system_id, user)

    @machine_action("rescue-mode", s.NoParams)
    def rescue_mode(self, system_id: str, user) -> None:
        """Boot the ephemeral environment with SSH for the owner's keys."""
        actions.machine_rescue_mode(system_id, user)

    @machine_action("exit-rescue-mode", s.NoParams)
    def exit_rescue_mode(self, system_id: str, user) -> None:
        """Leave rescue mode, back to the status before it."""
        actions.machine_exit_rescue_mode(system_id, user)

    @machine_action("override-failed-testing", s.NoParams)
    def override_failed_testing(self, system_id: str, user) -> None:
        """Accept a machine that failed testing: back to Deployed or Ready."""
        actions.machine_override_failed_testing(system_id, user)

    @machine_action("retire", s.NoParams)
    def retire(self, system_id: str, user) -> None:
        """Retire the machine: kept, but no longer used."""
        actions.machine_retire(system_id, user)

    @machine_action("set-zone", s.SetZoneParams)
    def set_zone(self, system_id: str, user, **params) -> None:
        """Move the machine to another zone."""
        actions.machine_set_zone(system_id, user, **params)

    @machine_action("set-pool", s.SetPoolParams)
    def set_pool(self, system_id: str, user, **params) -> None:
        """Move the machine to another resource pool."""
        actions.machine_set_pool(system_id, user, **params)

    @machine_action("power-on", s.NoParams)
    def power_on(self, system_id: str, user) -> None:
        """Power the machine on."""
        actions.machine_power_on(system_id, user)

    @machine_action("power-off", s.PowerOffParams)
    def power_off(self, system_id: str, user, **params) -> None:
        """Power the machine off (hard, or soft: an ACPI shutdown)."""
        actions.machine_power_off(system_id, user, **params)

    @machine_action("power-cycle", s.NoParams)
    def power_cycle(self, system_id: str, user) -> None:
        """Power cycle the machine (one that is off is powered on)."""
        actions.machine_power_cycle(system_id, user)

    @machine_action("query-power-state", s.NoParams)
    def query_power_state(self, system_id: str, user) -> None:
        """Ask the BMC for the power state; the answer updates power_state."""
        actions.machine_query_power_state(system_id, user)
