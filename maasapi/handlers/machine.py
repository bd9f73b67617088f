"""machines/{system_id}/: read, update, delete and the lifecycle operations, on the services
/api/v1/ uses; every reply is the machine as it is after the change (MAAS answers so)."""
import yaml
from django.http import HttpResponse

from maasapi import bson
from maasapi.errors import NotFound
from maasapi.framework import Handler, operation
from maasapi.handlers.machine_input import (
    machine_fields,
    release_options,
    script_names,
    visible_machine,
)
from maasapi.objects import machine_object
from maasproject.errors import Conflict
from maasproject.permissions import require_admin
from nodes.choices import NodeStatus
from nodes.selectors.details import deployment_config, machine_details
from nodes.services import actions, machines, storage
from nodes.services.tokens import token_active
from power.services.parameters import machine_power_parameters


class MachineHandler(Handler):
    """Manage an individual machine."""

    name = "MachineHandler"
    path = "machines/{system_id}/"

    def read(self, request, params, system_id):
        """Read a machine."""
        return machine_object(visible_machine(request.user, system_id))

    def update(self, request, params, system_id):
        """Update a machine (administrators).

        :param hostname: The new hostname.
        :type hostname: String
        :param description: A description.
        :type description: String
        :param architecture: e.g. amd64/generic.
        :type architecture: String
        :param zone: Name of its new zone.
        :type zone: String
        :param pool: Name of its new pool.
        :type pool: String
        :param power_type: The power type.
        :type power_type: String
        :param power_parameters: A JSON object, or power_parameters_<name> fields.
        :type power_parameters: String
        :param cpu_count: Number of CPU cores.
        :type cpu_count: Int
        :param memory: Memory in MiB.
        :type memory: Int
        """
        machine = visible_machine(request.user, system_id)
        fields = machine_fields(params, partial=True, instance=machine)
        fields.pop("mac_addresses", None)  # interfaces are changed through nodes/{id}/interfaces/
        machines.machine_update(system_id, request.user, **fields)
        return machine_object(machine)

    def delete(self, request, params, system_id):
        """Delete a machine (administrators)."""
        actions.machine_delete(visible_machine(request.user, system_id).system_id, request.user)

    @operation(idempotent=False)
    def commission(self, request, params, system_id):
        """Commission: hardware inventory from the ephemeral environment, then Ready.

        :param enable_ssh: Keep the machine on after commissioning.
        :type enable_ssh: Boolean
        :param skip_networking: Leave the network settings alone.
        :type skip_networking: Boolean
        :param skip_storage: Leave the storage settings alone.
        :type skip_storage: Boolean
        :param commissioning_scripts: Comma-separated script names.
        :type commissioning_scripts: String
        :param testing_scripts: Comma-separated script names, or none.
        :type testing_scripts: String
        """
        return self._act(request, system_id, actions.machine_commission,
                         enable_ssh=params.boolean("enable_ssh"),
                         skip_networking=params.boolean("skip_networking"),
                         skip_storage=params.boolean("skip_storage"),
                         commissioning_scripts=script_names(params, "commissioning_scripts"),
                         testing_scripts=script_names(params, "testing_scripts"))

    @operation(idempotent=False)
    def deploy(self, request, params, system_id):
        """Deploy an OS; a Ready machine is allocated to you first.

        :param distro_series: The release to deploy (default: the region's default).
        :type distro_series: String
        :param osystem: The operating system (default: the region's default).
        :type osystem: String
        :param user_data: Base64-encoded cloud-init user data.
        :type user_data: String
        """
        return self._act(request, system_id, actions.machine_deploy,
                         osystem=params.text("osystem"),
                         distro_series=params.text("distro_series"),
                         user_data=params.base64_text("user_data"))

    @operation(idempotent=False)
    def set_storage_layout(self, request, params, system_id):
        """Choose how a deploy partitions the boot disk.

        :param storage_layout: flat (an ext4 root) or lvm (the root on a logical volume).
        :type storage_layout: String
        :param root_device: The block device (id or name) to deploy to (default: unchanged).
        :type root_device: String
        """
        return self._act(request, system_id, storage.machine_set_storage_layout,
                         storage_layout=params.text("storage_layout"),
                         boot_disk=params.text("root_device"))

    @operation(idempotent=False)
    def release(self, request, params, system_id):
        """Release: power off, optionally erase the disks, then Ready without an owner.

        :param erase: Erase the disks (default: the region's enable_disk_erasing_on_release).
        :type erase: Boolean
        :param quick_erase: Wipe only the start and end of each disk.
        :type quick_erase: Boolean
        :param secure_erase: Use the disks' secure erase.
        :type secure_erase: Boolean
        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_release, **release_options(params))

    @operation(idempotent=False)
    def abort(self, request, params, system_id):
        """Abort the work in progress.

        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_abort,
                         comment=params.text("comment"))

    @operation(idempotent=False)
    def power_on(self, request, params, system_id):
        """Power on.

        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_power_on)

    @operation(idempotent=False)
    def power_off(self, request, params, system_id):
        """Power off.

        :param stop_mode: hard (default) or soft.
        :type stop_mode: String
        """
        return self._act(request, system_id, actions.machine_power_off,
                         stop_mode=params.text("stop_mode", "hard"))

    @operation(idempotent=True)
    def query_power_state(self, request, params, system_id):
        """The power state last reported by the BMC; a fresh query is sent to it too."""
        machine = actions.machine_query_power_state(
            visible_machine(request.user, system_id).system_id, request.user)
        return {"state": machine.power_state}

    @operation(idempotent=True)
    def power_parameters(self, request, params, system_id):
        """The machine's power parameters (administrators; secrets masked)."""
        require_admin(request.user, "read power parameters")
        return machine_power_parameters(visible_machine(request.user, system_id))

    @operation(idempotent=False)
    def mark_broken(self, request, params, system_id):
        """Mark the machine broken.

        :param comment: Why it is broken.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_mark_broken,
                         description=params.text("comment"))

    @operation(idempotent=False)
    def mark_fixed(self, request, params, system_id):
        """Mark a broken machine fixed (administrators).

        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_mark_fixed)

    @operation(idempotent=False)
    def lock(self, request, params, system_id):
        """Lock a deployed machine against changes.

        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_lock,
                         comment=params.text("comment"))

    @operation(idempotent=False)
    def unlock(self, request, params, system_id):
        """Unlock a locked machine.

        :param comment: A comment for the event log.
        :type comment: String
        """
        return self._act(request, system_id, actions.machine_unlock)

    @operation(idempotent=False)
    def rescue_mode(self, request, params, system_id):
        """Boot the ephemeral environment for rescue."""
        return self._act(request, system_id, actions.machine_rescue_mode)

    @operation(idempotent=False)
    def exit_rescue_mode(self, request, params, system_id):
        """Leave rescue mode."""
        return self._act(request, system_id, actions.machine_exit_rescue_mode)

    @operation(idempotent=True)
    def details(self, request, params, system_id):
        """The raw output of each commissioning script (its newest passed run), BSON-encoded
        as MAAS sends it: a document of script name -> bytes."""
        machine = visible_machine(request.user, system_id)
        return HttpResponse(bson.encode(machine_details(machine)),
                            content_type="application/bson")

    @operation(idempotent=True)
    def get_curtin_config(self, request, params, system_id):
        """The deployment configuration of a Deploying or Deployed machine, as YAML: the
        image written (its checksum and format) and the disk it is written to; MAAS returns
        curtin's configuration here, this region writes images without curtin."""
        machine = visible_machine(request.user, system_id)
        config = deployment_config(machine)
        if machine.status not in (NodeStatus.DEPLOYING, NodeStatus.DEPLOYED) or config is None:
            raise Conflict(f"Machine {machine.system_id} is not in a deployment state.")
        return HttpResponse(yaml.safe_dump(config, sort_keys=True), content_type="text/plain")

    @operation(idempotent=True)
    def get_token(self, request, params, system_id):
        """The metadata credentials of the machine's running job (administrators): the
        ephemeral environment sends `Authorization: Machine <consumer_key>:<token_key>`.
        The token works only from the machine's own addresses and ends with the job."""
        require_admin(request.user, "read a machine's metadata token")
        machine = visible_machine(request.user, system_id)
        token = token_active(machine)
        if token is None:
            raise NotFound(f"Machine {machine.system_id} has no metadata token: one is issued "
                           "when a job (commissioning, deployment, erase, rescue) starts.")
        return {"consumer_key": machine.system_id, "token_key": token.key, "token_secret": "",
                "purpose": token.purpose}

    @staticmethod
    def _act(request, system_id: str, action, **options) -> dict:
        """Run a lifecycle service on a machine the user can see; the machine after it."""
        machine = visible_machine(request.user, system_id)
        action(machine.system_id, request.user, **options)
        return machine_object(machine)
