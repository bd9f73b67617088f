"""PXE boot retry: a machine whose boot loader broke off fetching its kernel or initrd is power
cycled into another netboot, up to PXE_BOOT_RETRIES times per job.

Boot loaders die in ways of their own and then wait for a key press: lpxelinux's lwIP stack now
and then stops mid-kernel on a silent assertion ("Boot failed: press a key to retry"). Ironic
answers stuck PXE boots with a power cycle after `[pxe]boot_retry_timeout`; here the rack sees
the transfer break (bootsvc reports how far the client got), so the region need not wait.
"""
from django.conf import settings

from nodes.choices import EventLevel
from nodes.models import Event, Machine
from nodes.selectors.boot import ACTION_BY_STATUS, machine_action
from nodes.services.events import event_record
from nodes.services.power import dispatch_power

EPHEMERAL_FILES = "images/ephemeral/"  # kernels and initrds of the ephemeral environment
NETBOOT_ACTIONS = frozenset(ACTION_BY_STATUS.values())  # into the ephemeral environment


def boot_transfer_broken(machine: Machine, path: str, error: str) -> bool:
    """Power cycle (netboot) a machine whose transfer of `path` broke with `error`, if `path`
    is an ephemeral boot file, the machine is netbooting into the ephemeral environment and
    retries remain for its current job. True if a retry was started."""
    if not path.startswith(EPHEMERAL_FILES) or machine_action(machine) not in NETBOOT_ACTIONS:
        return False
    done = retries_this_job(machine)
    limit = settings.PXE_BOOT_RETRIES
    if done >= limit:
        event_record(machine=machine, type="boot_retry", level=EventLevel.ERROR,
                     description=f"No PXE boot retry left ({limit} used): the boot loader "
                                 f"broke off fetching {path} ({error})")
        return False
    event_record(machine=machine, type="boot_retry", level=EventLevel.WARNING,
                 description=f"PXE boot retry {done + 1} of {limit}: the boot loader broke "
                             f"off fetching {path} ({error}); power cycling")
    _power_cycle(machine.system_id)
    return True


def retries_this_job(machine: Machine) -> int:
    """Retries started since the machine's newest job started (all of them if none did)."""
    retries = Event.objects.filter(machine=machine, type="boot_retry", level=EventLevel.WARNING)
    started = (Event.objects.filter(machine=machine, type="job_started")
               .order_by("-created", "-id").values_list("created", flat=True).first())
    return (retries.filter(created__gte=started) if started else retries).count()


def _power_cycle(system_id: str) -> None:
    dispatch_power(system_id, "cycle", purpose="job", netboot=True)
