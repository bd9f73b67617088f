"""Deployment: choose the image, start the deploy job, end it when the deployed OS reports in.

`machine_deploy` (actions.py) calls `deploy_job_create` in its transaction: a deployment script
set whose one result is the image write, the chosen image and boot disk in the set's options,
and a token. The ephemeral environment's runner (nodes/metadata/deploy.sh) streams the image
from the rack's cache, verifies it, writes it and metal.cfg, and reports through `status/`:
`deploy_job_end` then turns netboot off (the next boot is local) and the runner reboots. The
deployed OS fetches `user-data/` and reports `deployed/` with the same token: Deployed, token
revoked. A runner failure is Failed deployment with its reason; the output stays on the result.
"""
import re

from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import ServiceError
from nodes.bootimages import formats
from nodes.choices import (
    BootResourceFileType,
    BootResourceKind,
    EventLevel,
    NodeStatus,
    ResultType,
)
from nodes.models import BootResource, BootResourceFile, Machine, ScriptResult, ScriptSet
from nodes.services.events import event_record
from nodes.services.lifecycle import lock_machine, machine_finish
from nodes.services.power import machine_finish_and_power_off
from nodes.services.scripts import KEEP_SCRIPT_SETS
from nodes.services.storage import machine_storage_plan
from nodes.services.tokens import os_token_issue, token_issue

# What the ephemeral environment can write, best first: a compressed disk image (busybox
# gunzip, zstd), the raw bytes, a real OS's root tarball (install_root.sh: the storage layout
# and its own GRUB), then a root tarball (write_root_tgz.sh: ext4 and extlinux).
DEPLOY_FORMATS = (formats.GZ, formats.ZST, formats.RAW, formats.TZST, formats.TGZ)
WRITE_IMAGE = "write-image"
OUTPUT_TAIL = 2000
_DISK_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class DeployError(ServiceError):
    """A report that does not fit the machine's deployment (HTTP 400); nothing is changed."""


# --- the image and the disk -----------------------------------------------------------------

def deploy_image_choose(osystem: str, distro_series: str, architecture: str) -> dict:
    """The image to deploy: the named release, else the newest deployable one that can be
    written; ValidationError naming the problem when there is none."""
    family = (architecture or "amd64/generic").split("/")[0]
    resources = BootResource.objects.filter(
        kind=BootResourceKind.DEPLOYABLE, architecture__startswith=f"{family}/"
    ).order_by("-created", "-id").prefetch_related("files")
    if osystem:
        resources = resources.filter(os=osystem)
    if distro_series:
        resources = resources.filter(series=distro_series)
    ranked = sorted(resources, key=lambda r: r.architecture != architecture)  # stable
    problems = []
    for resource in ranked:
        file, problem = _writable_file(resource)
        if file is not None:
            return _image(resource, file)
        problems.append(problem)
    wanted = "/".join(part for part in (osystem, distro_series) if part) or "any OS"
    if problems:
        raise ValidationError({"osystem": [problems[0]]})
    raise ValidationError({"osystem": [
        f"No deployable image for {wanted} ({family}): build one with `manage.py "
        "build_test_os` or upload one to /api/v1/boot-resources/."]})


def _writable_file(resource: BootResource) -> tuple[BootResourceFile | None, str]:
    """The resource's root image the ephemeral environment can write, or why there is none."""
    images = {f.format: f for f in resource.files.all()
              if f.filetype in (BootResourceFileType.ROOT_IMAGE, BootResourceFileType.ROOT_TGZ)}
    for file_format in DEPLOY_FORMATS:
        if file_format in images:
            return images[file_format], ""
    return None, f"{resource.name} has no root image or root tarball."


def _image(resource: BootResource, file: BootResourceFile) -> dict:
    return {"resource": resource.name, "os": resource.os, "series": resource.series,
            "path": file.path, "format": file.format, "sha256": file.sha256, "size": file.size}


def boot_disk(machine: Machine) -> str:
    """The disk to write: the machine's chosen boot disk, else the first one of the
    commissioning inventory, '' to let the runner take the first non-removable disk it sees."""
    if machine.boot_disk_id is not None and _DISK_NAME.match(machine.boot_disk.name):
        return f"/dev/{machine.boot_disk.name}"
    for name in machine.block_devices.order_by("name").values_list("name", flat=True):
        if _DISK_NAME.match(name):
            return f"/dev/{name}"
    return ""


# --- the job --------------------------------------------------------------------------------

def deploy_job_create(machine: Machine, image: dict) -> ScriptSet:
    """The deployment job (script set, its one result, a token) of a machine being deployed."""
    options = {"image": image, "disk": boot_disk(machine)}
    if image["format"] in formats.ROOT_TGZ_FORMATS:  # a disk image brings its own partitions
        options["storage"] = machine_storage_plan(machine, options["disk"])
    script_set = ScriptSet.objects.create(machine=machine, result_type=ResultType.DEPLOYMENT,
                                          options=options)
    ScriptResult.objects.create(script_set=script_set, script_name=WRITE_IMAGE)
    _prune(machine)
    token_issue(machine, ResultType.DEPLOYMENT)
    os_token_issue(machine)
    event_record(machine=machine, type="deploy_job",
                 description=f"deploy {image['resource']} ({image['format']}, "
                             f"{image['size']} bytes) to {options['disk'] or 'the first disk'}")
    return script_set


def _prune(machine: Machine) -> None:
    """Keep the newest KEEP_SCRIPT_SETS deployment sets of the machine."""
    sets = ScriptSet.objects.filter(machine=machine, result_type=ResultType.DEPLOYMENT)
    keep = list(sets.order_by("-created", "-id").values_list("id", flat=True)[:KEEP_SCRIPT_SETS])
    sets.exclude(id__in=keep).delete()


def deploy_job_end(machine: Machine, script_set: ScriptSet, failure: str | None,
                   message: str) -> bool:
    """The runner's end (inside job_report's transaction, the set already closed); return
    whether the machine powers itself off. Success: netboot off and the runner reboots into
    the deployed OS, which reports with the same token. Failure: Failed deployment."""
    if failure is None:
        machine.netboot = False
        machine.save(update_fields=["netboot", "updated"])
        event_record(machine=machine, type="deploy_image_written",
                     description=f"{_written(script_set)}; netboot off, rebooting into the "
                                 "deployed OS")
        return False
    reason = f"deployment failed: {message}" if message else failure
    event_record(machine=machine, type="job_finished", level=EventLevel.ERROR,
                 description=f"deployment job failed: {reason}\n{_output_tail(script_set)}")
    machine_finish_and_power_off(machine.system_id, success=False, reason=reason)
    return True


def _written(script_set: ScriptSet) -> str:
    image = script_set.options.get("image", {})
    return (f"image {image.get('resource')} ({image.get('format')}, sha256 "
            f"{image.get('sha256', '')[:12]}…) written to "
            f"{script_set.options.get('disk') or 'the first disk'}")


def _output_tail(script_set: ScriptSet) -> str:
    """The end of the runner's output (the image write's combined output)."""
    result = script_set.results.filter(script_name=WRITE_IMAGE).only("output").first()
    text = bytes(result.output or b"").decode("utf-8", "replace") if result else ""
    return text[-OUTPUT_TAIL:]


# --- the deployed OS ------------------------------------------------------------------------

def user_data_fetch(machine: Machine) -> str:
    """The user data for the deployed OS's first boot (only while it is Deploying)."""
    if machine.status != NodeStatus.DEPLOYING:
        raise DeployError(f"{machine.hostname} is {machine.status_name}, not Deploying.")
    event_record(machine=machine, type="user_data_fetched",
                 description=f"deployed OS fetched its user data ({len(machine.user_data)} "
                             "characters)")
    return machine.user_data


def deployed_report(machine: Machine, *, message: str = "", user_data_exit: int | None = None,
                    user_data_output: str = "") -> Machine:
    """The deployed OS booted and reported: Deployed, its token revoked (machine_finish)."""
    with transaction.atomic():
        machine = lock_machine(machine.system_id)
        if machine.status != NodeStatus.DEPLOYING:
            raise DeployError(f"{machine.hostname} is {machine.status_name}, not Deploying.")
        ran = "" if user_data_exit is None else f"; user data exit {user_data_exit}"
        event_record(machine=machine, type="deployed",
                     description=f"deployed OS reported in: {message or 'no message'}{ran}")
        if user_data_output:
            event_record(machine=machine, type="user_data_output",
                         level=EventLevel.WARNING if user_data_exit else EventLevel.INFO,
                         description=user_data_output)
        return machine_finish(machine.system_id, success=True)
