"""Helpers shared by the lab's end-to-end tests (deploy, release, the whole cycle): the boot
images, the lab's network on the region, waiting for a status through the REST API, the boot
timeline, and reading a lab VM's disk file."""
import os
import shutil
from dataclasses import replace
from pathlib import Path

from lab.api import Api
from nodes.bootimages import builder, debian, formats, testos
from nodes.bootimages.builder import BuildError
from nodes.choices import NodeStatus
from nodes.models import Event, Machine, Tag
from nodes.services.bootresources import (
    boot_resource_register_deployable,
    boot_resource_register_ephemeral,
)
from tests.factories import (
    FabricFactory,
    IPRangeFactory,
    MachineFactory,
    SubnetFactory,
    VLANFactory,
)
from tests.processes import skip_or_fail, wait_until
from zones.models import VLAN, RackController

IMAGE_CACHE = Path(os.environ.get("METAL_IMAGE_CACHE", "/var/cache/metal-image-build"))
# Built once here (a later build with nothing changed is a no-op, also across runs), then copied
# into each lab's boot resources dir: building per lab module took some 40 s each.
SHARED_BUILD = IMAGE_CACHE / "lab-boot-resources"
DEBIAN_BUILD = IMAGE_CACHE / "debian-boot-resources"  # shared with tests/nodes/test_debian_image
IMAGE_PATH = "images/deployable/amd64/generic/1/root.img.gz"  # the test OS, gz
WAIT = 900  # seconds for a netboot and a job: TCG, two cores shared with other work
MIB = 1 << 20
SECTOR = 512


def build_boot_images(boot_resources_dir: Path, test_os: bool = False):
    """(ephemeral kernel and initrd, test OS images or None) in boot_resources_dir, built or
    reused from the cache; skips when they cannot be built (fails with CI=true)."""
    try:
        ephemeral = builder.build(SHARED_BUILD, "cloud", cache_dir=IMAGE_CACHE,
                                  progress=lambda _: None)
        deployable = testos.build(SHARED_BUILD, "cloud", cache_dir=IMAGE_CACHE,
                                  progress=lambda _: None) if test_os else None
    except BuildError as exc:
        skip_or_fail(f"cannot build the boot images: {exc}")
    ephemeral = replace(ephemeral, kernel=place(ephemeral.kernel, boot_resources_dir),
                        initrd=place(ephemeral.initrd, boot_resources_dir))
    if deployable is not None:
        deployable = replace(deployable, images={
            fmt: place(path, boot_resources_dir) for fmt, path in deployable.images.items()})
    return ephemeral, deployable


def register_boot_images(ephemeral, deployable) -> None:
    """Register what build_boot_images built: the ephemeral environment and the test OS."""
    boot_resource_register_ephemeral(ephemeral.kernel, ephemeral.initrd, series="bookworm")
    boot_resource_register_deployable(deployable.images, os_name=testos.OS_NAME,
                                      series=testos.SERIES, architecture=testos.ARCHITECTURE,
                                      title=testos.TITLE)


def place(built: Path, boot_resources_dir: Path, build_dir: Path = SHARED_BUILD) -> Path:
    """A copy of a file of build_dir at the same place under boot_resources_dir (a copy:
    tests may change theirs)."""
    target = Path(boot_resources_dir) / built.relative_to(build_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, target)
    return target


def register_debian(boot_resources_dir: Path) -> debian.DebianResult:
    """Debian 12 built (or found up to date) in DEBIAN_BUILD, copied into boot_resources_dir
    and registered as a deployable image; BuildError when it cannot be built."""
    result = debian.build(DEBIAN_BUILD, "bookworm", IMAGE_CACHE, progress=lambda _: None)
    target = place(result.image, boot_resources_dir, DEBIAN_BUILD)
    boot_resource_register_deployable({formats.TZST: target}, os_name=debian.OS_NAME,
                                      series="bookworm", architecture=debian.ARCHITECTURE,
                                      title=debian.title("bookworm"))
    return replace(result, image=target)


def serve_lab_network(lab, allow_enlistment: bool = True, bios_boot_loader: str = "ipxe"):
    """The lab's VLAN with DHCP on its first rack, 10.99.0.0/24 with a dynamic range, the
    registered boot resources synced to the rack's cache; returns once the rack serves DHCP.
    Returns the subnet.

    BIOS VMs boot through iPXE unless a test asks for pxelinux: iPXE fetches kernel and initrd
    in under 2 s where lpxelinux's lwIP takes about 11 s under TCG and now and then stops dead
    (bench/RESULTS.md, issue 15). test_netboot and test_lifecycle keep the pxelinux path."""
    rack = lab.racks[0]
    log_mark = Path(rack.log).stat().st_size
    rack_row = RackController.objects.get(name=rack.name)
    vlan = VLANFactory(fabric=FabricFactory(), vid=0)
    subnet = SubnetFactory(vlan=vlan, cidr="10.99.0.0/24", allow_enlistment=allow_enlistment,
                           bios_boot_loader=bios_boot_loader)
    IPRangeFactory(subnet=subnet, start_ip="10.99.0.100", end_ip="10.99.0.199")
    VLAN.objects.filter(pk=vlan.pk).update(dhcp_on=True, primary_rack=rack_row)
    sync = lab.sync_images(rack)
    assert sync.returncode == 0, sync.stdout + sync.stderr + lab.logs_tail()
    wait_until(lambda: rack_row.subnets.filter(pk=subnet.pk).exists(), 60, lab.logs_tail)
    wait_until(lambda: "DHCP listening" in Path(rack.log).read_text()[log_mark:], 60,
               lab.logs_tail)
    return subnet


def decoy() -> Machine:
    """A smaller Ready machine tagged lab-tag in another zone: best fit would pick it."""
    machine = MachineFactory(hostname="decoy", status=NodeStatus.READY, cpu_count=1, memory=256)
    machine.tags.add(Tag.objects.get_or_create(name="lab-tag")[0])
    return machine


def allocate_and_deploy(api: Api, user_data: str) -> str:
    """Allocate by zone lab-zone and tag lab-tag, then deploy the default image (the test OS);
    the system id."""
    allocated = api.post("machines/allocate/", {"zone": "lab-zone", "tags": ["lab-tag"]})
    system_id = allocated["system_id"]
    deploying = api.post(f"machines/{system_id}/deploy/", {"user_data": user_data})
    assert deploying["status_name"] == "Deploying", deploying
    assert (deploying["osystem"], deploying["distro_series"]) == ("metal-test", "1"), deploying
    return system_id


def timeline(system_id: str) -> list[Event]:
    """The machine's Events, oldest first."""
    return list(Event.objects.filter(machine__system_id=system_id).order_by("created", "id"))


def timeline_text(system_id: str) -> str:
    return "\n".join(f"{e.created:%H:%M:%S} {e.type} {e.description}"
                     for e in timeline(system_id))


def first(events: list[Event], event_type: str, text: str = "") -> Event:
    """The first event of that type whose description contains text."""
    return next(e for e in events if e.type == event_type and text in e.description)


def wait_for_status(api: Api, lab, system_id: str, wanted: str, passing: tuple = (),
                    timeout: float = WAIT) -> dict:
    """Poll the machine until it is `wanted`; fail at once on any status not in `passing`."""
    seen = {}

    def reached() -> bool:
        seen.update(api.get(f"machines/{system_id}/"))
        assert seen["status_name"] in (wanted, *passing), (seen, timeline_text(system_id),
                                                           lab.logs_tail())
        return seen["status_name"] == wanted

    wait_until(reached, timeout,
               lambda: f"{seen}\n{timeline_text(system_id)}\n{lab.logs_tail()}")
    return dict(seen)


def erase_report(api: Api, system_id: str) -> dict:
    """The machine's one erase_report Event (through the API)."""
    reports = api.items(f"events/?machine={system_id}&type=erase_report")
    assert len(reports) == 1, reports
    return reports[0]


def disk_head(vm, size: int = MIB) -> bytes:
    with open(vm.disk, "rb") as handle:
        return handle.read(size)


def read_disk(vm) -> bytes:
    return Path(vm.disk).read_bytes()


def all_zero(data: bytes) -> bool:
    return data.count(0) == len(data)


def read_at(vm, offset: int, size: int) -> bytes:
    """`size` bytes of the VM's disk file from `offset` (a whole disk may be GiBs)."""
    with open(vm.disk, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)
