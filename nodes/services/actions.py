"""Named lifecycle actions, one typed service each (the API and admin call these)."""
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction

from nodes import lifecycle
from nodes.choices import NodeStatus, ResultType
from nodes.models import InterfaceLink, Machine
from nodes.services.config import config_get
from nodes.services.deploy import deploy_image_choose, deploy_job_create
from nodes.services.erase import erase_job_create, erase_options
from nodes.services.errors import UnknownScripts
from nodes.services.events import event_record
from nodes.services.jobs import job_close
from nodes.services.lifecycle import clear_ownership, run_action
from nodes.services.links import links_discard, machine_links_assign, machine_links_release
from nodes.services.permissions import require_action_permission
from nodes.services.power import dispatch_power
from nodes.services.rescue import rescue_exit_power_action, rescue_job_create
from nodes.services.scripts import script_set_create
from nodes.services.tokens import os_token_revoke, token_issue
from power.services.bmcs import bmc_delete_if_unused
from zones.models import ResourcePool, Zone


def _start_job(system_id: str, job: str, power_action: str = "on") -> None:
    """Netboot the machine for a job: power on (or cycle) with a one-time PXE boot.

    The boot decision sends it into the ephemeral environment, whose runner reports to the
    metadata API; a job that never reports fails at its deadline. Erase and rescue start from
    machines that may be running (Deployed): they power cycle, which powers on one that is off.
    """
    event_record(machine=Machine.objects.get(system_id=system_id), type="job_started",
                 description=f"{job} job: netbooting the machine")
    dispatch_power(system_id, power_action, purpose="job", netboot=True)


def _power(system_id: str, action: str, purpose: str = "user") -> None:
    dispatch_power(system_id, action, purpose=purpose)


def machine_commission(
    system_id: str, user, *, enable_ssh: bool = False, skip_networking: bool = False,
    skip_storage: bool = False, commissioning_scripts: list[str] | None = None,
    testing_scripts: list[str] | None = None, power_on: bool = True,
) -> Machine:
    """Start commissioning: script sets and token, then netboot into the ephemeral environment.

    Testing follows in the same boot when `testing_scripts` names any. `power_on=False` is for
    a machine already running the ephemeral environment (enlistment).
    """
    options = {"enable_ssh": enable_ssh, "skip_networking": skip_networking,
               "skip_storage": skip_storage}

    def change(machine: Machine) -> None:
        machine.netboot = True
        jobs = [(ResultType.COMMISSIONING, commissioning_scripts, "commissioning_scripts")]
        if testing_scripts:
            jobs.append((ResultType.TESTING, testing_scripts, "testing_scripts"))
        _jobs_create(machine, jobs, options)
        token_issue(machine, ResultType.COMMISSIONING)

    note = " ".join(f"{key}={value}" for key, value in options.items())
    if testing_scripts:
        note += f"; then testing: {', '.join(testing_scripts)}"
    return run_action(
        system_id, "commission", user, change=change, note=note,
        send=partial(_start_job, system_id, "commissioning") if power_on else None,
    )


def machine_test(system_id: str, user, *, testing_scripts: list[str] | None = None) -> Machine:
    """Start hardware testing in the ephemeral environment (default testing scripts if None)."""

    def change(machine: Machine) -> None:
        _jobs_create(machine, [(ResultType.TESTING, testing_scripts, "testing_scripts")], {})
        token_issue(machine, ResultType.TESTING)

    return run_action(
        system_id, "test", user, change=change,
        send=partial(_start_job, system_id, "testing"),
    )


def _jobs_create(machine: Machine, jobs: list[tuple], options: dict) -> None:
    """Create the script sets of a job; unknown script names: field errors, nothing kept."""
    errors = {}
    for result_type, scripts, field in jobs:
        try:
            script_set_create(machine, result_type, scripts=scripts, options=options)
        except UnknownScripts as exc:
            errors[field] = exc.messages
    if errors:  # raised inside run_action's transaction: everything rolls back
        raise ValidationError(errors)


def machine_abort(system_id: str, user, *, comment: str = "") -> Machine:
    """Abort in-progress work: back to the previous status, job closed, machine powered off.

    `comment` (why) goes into the event, as MAAS's abort comment does.
    """
    return run_action(system_id, "abort", user, change=job_close, note=comment,
                      send=partial(_power, system_id, "off"))


def machine_deploy(
    system_id: str, user, *, osystem: str = "", distro_series: str = "", user_data: str = ""
) -> Machine:
    """Deploy an OS; a Ready machine is allocated to the user first, as in MAAS.

    The image is the named release, else the configured default_osystem/default_distro_series,
    else the newest deployable one (ValidationError when none can be written); the deployment
    job writes it from the ephemeral environment (deploy.py). AUTO links get their addresses
    here (a full subnet: 409, nothing kept).
    """
    osystem = osystem or config_get("default_osystem")
    distro_series = distro_series or config_get("default_distro_series")

    def change(machine: Machine) -> None:
        if machine.owner_id is None:
            machine.owner = user
        image = deploy_image_choose(osystem, distro_series, machine.architecture)
        machine.osystem, machine.distro_series = image["os"], image["series"]
        machine.user_data = user_data
        machine.netboot = True
        deploy_job_create(machine, image)
        machine_links_assign(machine)

    return run_action(
        system_id, "deploy", user, change=change,
        note=f"{osystem or 'default'}/{distro_series or 'default'}",
        send=partial(_start_job, system_id, "deploy"),
    )


def machine_release(system_id: str, user, *, erase: bool | None = None, erase_mode: str = "",
                    quick_erase: bool | None = None, secure_erase: bool | None = None,
                    comment: str = "") -> Machine:
    """Release a machine: power off, optionally erase, then Ready without owner.

    A manually powered machine has nothing to wait for, so it is Ready at once (as in MAAS).
    Without `erase`, the region's enable_disk_erasing_on_release decides (as in MAAS). With
    erase: Disk erasing, and the erase job (erase.py) in the ephemeral environment; the mode
    from `erase_mode` or MAAS's quick/secure booleans (erase_options; ValidationError first).
    The addresses of AUTO links are freed at once; STATIC links keep theirs.
    """
    if erase is None:
        erase = config_get("enable_disk_erasing_on_release")
    erase_mode, secure_fallback = erase_options(
        erase=erase, erase_mode=erase_mode, quick_erase=quick_erase, secure_erase=secure_erase)

    def change(machine: Machine) -> None:
        machine_links_release(machine)
        os_token_revoke(machine)  # the released OS's cloud-init loses the metadata service
        if machine.status == NodeStatus.RELEASING and machine.power_type == "manual":
            machine.complete()
            clear_ownership(machine)
        if machine.status == NodeStatus.DISK_ERASING:
            erase_job_create(machine, erase_mode, secure_fallback)

    job = (partial(_start_job, system_id, "erase", "cycle") if erase
           else partial(_power, system_id, "off", "release"))
    fallback = f", else {secure_fallback}" if erase_mode == "secure" else ""
    return run_action(
        system_id, "release", user, fsm_kwargs={"erase": erase}, change=change,
        note=(f"erase ({erase_mode}{fallback}); " if erase else "") + comment, send=job,
    )


def machine_mark_broken(system_id: str, user, *, description: str = "") -> Machine:
    """Mark broken. A machine at rest (Deployed, Ready...) is left running, as in MAAS; one in
    the middle of a job has the job closed (token revoked) and is powered off."""
    interrupted = []

    def change(machine: Machine) -> None:
        machine.error_description = description
        if machine.previous_status in lifecycle.IN_PROGRESS:
            job_close(machine)
            interrupted.append(machine.previous_status)

    def power_off_if_interrupted() -> None:
        if interrupted:
            _power(system_id, "off")

    return run_action(system_id, "mark-broken", user, change=change, note=description,
                      send=power_off_if_interrupted)


def machine_mark_fixed(system_id: str, user) -> Machine:
    return run_action(system_id, "mark-fixed", user)


def machine_override_failed_testing(system_id: str, user) -> Machine:
    return run_action(system_id, "override-failed-testing", user)


def machine_lock(system_id: str, user, *, comment: str = "") -> Machine:
    """Lock a deployed machine: every action but unlock is refused until unlocked."""
    return run_action(system_id, "lock", user, change=_set_locked(True), note=comment)


def machine_unlock(system_id: str, user) -> Machine:
    return run_action(system_id, "unlock", user, change=_set_locked(False))


def _set_locked(value: bool):
    def change(machine: Machine) -> None:
        machine.locked = value

    return change


def machine_rescue_mode(system_id: str, user) -> Machine:
    """Boot the ephemeral environment with SSH for the owner's keys (rescue.py)."""
    return run_action(
        system_id, "rescue-mode", user, change=lambda machine: rescue_job_create(machine, user),
        send=partial(_start_job, system_id, "rescue", "cycle"),
    )


def machine_exit_rescue_mode(system_id: str, user) -> Machine:
    """Leave rescue mode: powered off, or back to its disk when it was Deployed; the power
    result ends Exiting rescue mode at the previous status."""
    return run_action(
        system_id, "exit-rescue-mode", user, change=job_close,
        send=partial(_exit_rescue_power, system_id),
    )


def _exit_rescue_power(system_id: str) -> None:
    machine = Machine.objects.get(system_id=system_id)
    _power(system_id, rescue_exit_power_action(machine), "exit-rescue")


def machine_retire(system_id: str, user) -> Machine:
    return run_action(system_id, "retire", user)


def machine_set_zone(system_id: str, user, zone: Zone) -> Machine:
    def change(machine: Machine) -> None:
        machine.zone = zone

    return run_action(system_id, "set-zone", user, change=change, note=f"zone {zone.name}")


def machine_set_pool(system_id: str, user, pool: ResourcePool) -> Machine:
    def change(machine: Machine) -> None:
        machine.pool = pool

    return run_action(system_id, "set-pool", user, change=change, note=f"pool {pool.name}")


POWER_ACTIONS = {"power-on": "on", "power-off": "off", "power-cycle": "cycle",
                 "query-power-state": "query"}


def machine_power(system_id: str, user, action: str, *, stop_mode: str = "hard") -> Machine:
    """Request a power action (`power-on`, `power-off`, `power-cycle`, `query-power-state`)."""
    verb = POWER_ACTIONS[action]
    if verb == "off" and stop_mode == "soft":
        verb = "soft-off"
    return run_action(
        system_id, action, user, note=f"power {verb} requested",
        send=partial(_power, system_id, verb),
    )


def machine_power_on(system_id: str, user) -> Machine:
    return machine_power(system_id, user, "power-on")


def machine_power_off(system_id: str, user, *, stop_mode: str = "hard") -> Machine:
    return machine_power(system_id, user, "power-off", stop_mode=stop_mode)


def machine_power_cycle(system_id: str, user) -> Machine:
    return machine_power(system_id, user, "power-cycle")


def machine_query_power_state(system_id: str, user) -> Machine:
    return machine_power(system_id, user, "query-power-state")


def machine_delete(system_id: str, user) -> None:
    """Delete a machine and its BMC if no other machine uses it (Events stay, for the audit)."""
    from nodes.services.lifecycle import check_action, lock_machine

    with transaction.atomic():
        machine = lock_machine(system_id)
        require_action_permission(user, machine, "delete")
        check_action(machine, "delete")
        event_record(machine=None, type="delete", user=user, hostname=machine.hostname,
                     description=f"Deleted machine {machine.hostname} ({machine.system_id})")
        bmc_id = machine.bmc_id
        # Link addresses would outlive the links the delete cascades to: free them first.
        links_discard(InterfaceLink.objects.filter(interface__machine=machine))
        machine.delete()
        bmc_delete_if_unused(bmc_id)  # the last machine of a BMC takes its record along
