"""Issue 5, proof of the path: a VM known to the region, powered on through our IPMI driver and
our virtual BMC (qemu backend), netboots through our DHCP → TFTP (lpxelinux.0) → its per-MAC
pxelinux config → kernel and initrd over HTTP from the rack's image cache → the ephemeral /init,
which calls the region's metadata API with its machine token; the boot timeline shows it.

The lab (tests/lab/conftest.py): one VM and one rack (`rackd`: registration, heartbeats,
bootsvc, image cache) on a bridge in network namespaces with no link to the root namespace; the
region (gunicorn and a region worker on the test database) runs in the root namespace and is
reached through the lab's portal on 10.99.0.1:5240.
"""
import os
import shutil
import time
from pathlib import Path

import pytest

from lab.vbmc.backends import QMPClient
from lab.vm import plain_console
from nodes.choices import NodeStatus
from nodes.models import Event
from nodes.services.actions import machine_commission
from nodes.services.bootresources import boot_resource_register_ephemeral
from nodes.services.tokens import token_active
from power.services.parameters import machine_set_power
from tests.factories import (
    AdminFactory,
    FabricFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    SubnetFactory,
    VLANFactory,
)
from tests.lab.helpers import build_boot_images, timeline_text
from tests.processes import skip_or_fail, wait_until
from zones.models import VLAN, RackController

STALL_TIMEOUT = 8  # bootsvc gives a transfer up after this many seconds without progress
pytestmark = pytest.mark.lab(vms=1, racks=1, memory=512,
                             env={"BOOTSVC_HTTP_STALL_TIMEOUT": str(STALL_TIMEOUT)})
PXELINUX = "/usr/lib/PXELINUX/lpxelinux.0"
UNDIONLY = "/usr/lib/ipxe/undionly.kpxe"
# Terminal control sequences: pxelinux moves the cursor mid-line once the screen is full.


@pytest.fixture
def peers():
    """curl plays the TFTP loader; pxelinux is what bootsvc serves on the PXE path."""
    reason = None if shutil.which("curl") else "curl is missing (apt-get install -y curl)"
    if reason is None and not os.path.exists(PXELINUX):
        reason = "pxelinux is missing (apt-get install -y pxelinux syslinux-common)"
    if reason:
        skip_or_fail(reason)


def boot_images(directory: Path) -> tuple[Path, Path]:
    """The ephemeral kernel and initrd (cloud flavour: virtio), built or reused from the cache."""
    ephemeral, _ = build_boot_images(directory)
    return ephemeral.kernel, ephemeral.initrd


def machine_events(machine) -> list[Event]:
    return list(Event.objects.filter(machine=machine).order_by("created", "pk"))


def setup_region(lab, kernel: Path, initrd: Path, bios_boot_loader: str = "pxelinux"):
    """The image, the lab's VLAN with DHCP on its rack, and the VM commissioning (its script set
    and token issued by the commission action; the test powers it on itself, the region only
    for a PXE boot retry)."""
    boot_resource_register_ephemeral(kernel, initrd, series="bookworm")
    rack = RackController.objects.get(name=lab.racks[0].name)
    vlan = VLANFactory(fabric=FabricFactory(), vid=0)
    subnet = SubnetFactory(vlan=vlan, cidr="10.99.0.0/24", bios_boot_loader=bios_boot_loader)
    IPRangeFactory(subnet=subnet, start_ip="10.99.0.100", end_ip="10.99.0.199")
    VLAN.objects.filter(pk=vlan.pk).update(dhcp_on=True, primary_rack=rack)
    machine = MachineFactory(status=NodeStatus.NEW, hostname="lab-vm")
    machine_set_power(machine, "ipmi", lab.vms[0].power_parameters)  # for PXE boot retries
    machine.save()
    InterfaceFactory(machine=machine, mac_address=lab.vms[0].mac)
    return machine_commission(machine.system_id, AdminFactory(), power_on=False)


def check_console(text: str, rack_ip: str, mac: str, region_url: str, machine) -> str:
    """The firmware (SeaBIOS + qemu's iPXE ROM, a BIOS client) got our DHCP answer, loaded
    lpxelinux.0 over our TFTP, which read its per-MAC config and fetched kernel and initrd over
    HTTP from the rack's cache; the kernel booted our image and /init got a lease from our DHCP
    range. Returns the VM's address."""
    text = plain_console(text)
    http = f"http://{rack_ip}:5248"
    for line in (f"Next server: {rack_ip}", "Filename: lpxelinux.0",
                 f"tftp://{rack_ip}/lpxelinux.0... ok", "PXELINUX 6.04",
                 f"Booting commission (lab-vm) from {http}",
                 f"Loading {http}/images/ephemeral/amd64/linux",
                 f"Loading {http}/images/ephemeral/amd64/initrd.gz"):
        assert line in text, line
    assert "Linux version" in text
    assert "metal: init started" in text
    assert f"metal: cmdline: region={region_url} system_id={machine.system_id}" in text
    lease = [line for line in text.splitlines() if "metal: dhcp address on" in line]
    assert lease, text
    vm_ip = lease[0].rsplit(" ", 1)[-1].strip()
    assert vm_ip.startswith("10.99.0.") and 100 <= int(vm_ip.rsplit(".", 1)[1]) <= 199
    return vm_ip


def check_region_saw(lab, vm_ip: str) -> None:
    """The ephemeral environment fetched its job from the metadata API with its token (in the
    Authorization header: never in the URL, so never in this log); the portal passes the VM's
    address on with the PROXY protocol."""
    access_log = lab.log("region-access")
    wait_until(lambda: f"{vm_ip} " in access_log.read_text(), 30, lab.logs_tail)
    region_requests = [line for line in access_log.read_text().splitlines()
                       if line.startswith(f"{vm_ip} ")]
    assert any('"GET /api/v1/metadata/job/ HTTP/1.1" 200' in line
               for line in region_requests), region_requests
    assert not any("token" in line for line in region_requests), region_requests


def check_timeline(machine, mac: str) -> None:
    """The boot timeline, in time order."""
    wanted = ["dhcp_offer", "dhcp_ack", "boot_decision", "http_file"]
    wait_until(lambda: {e.type for e in machine_events(machine)} >= set(wanted), 30,
               lambda: str([(e.type, e.description) for e in machine_events(machine)]))
    events = machine_events(machine)
    print("timeline:\n" + "\n".join(f"{e.created.isoformat()} {e.type} {e.description}"
                                    for e in events))
    first = {}
    for event in events:
        first.setdefault(event.type, event)
    assert first["dhcp_offer"].created <= first["dhcp_ack"].created
    assert first["dhcp_ack"].created <= first["http_file"].created
    assert first["dhcp_ack"].created <= first["boot_decision"].created
    tftp = [e.description for e in events if e.type == "tftp_file"]
    assert any("lpxelinux.0" in d for d in tftp), tftp
    assert any(f"pxelinux.cfg/01-{mac.replace(':', '-')}" in d for d in tftp), tftp
    assert first["tftp_file"].created <= first["http_file"].created
    # Kernel and initrd are fetched by address: bootsvc names the machine from its lease.
    served = " ".join(e.description for e in events if e.type == "http_file")
    assert "images/ephemeral/amd64/linux" in served, served
    assert "images/ephemeral/amd64/initrd.gz" in served, served


def check_pxe_config(lab, machine, tmp_path: Path) -> None:
    """The per-MAC pxelinux config the VM read: kernel and initrd over HTTP from the rack, the
    machine's id and its metadata token on the kernel command line."""
    rack_ip = lab.racks[0].address
    http = f"http://{rack_ip}:5248"
    config_name = f"pxelinux.cfg/01-{lab.vms[0].mac.replace(':', '-')}"
    fetched = lab.run_in(lab.bridge_ns, ["curl", "-sS", "--max-time", "20", "-o",
                                         str(tmp_path / "config"), f"tftp://{rack_ip}/{config_name}"])
    assert fetched.returncode == 0, fetched.stderr
    pxe_config = (tmp_path / "config").read_text()
    assert f"KERNEL {http}/images/ephemeral/amd64/linux" in pxe_config, pxe_config
    assert f"INITRD {http}/images/ephemeral/amd64/initrd.gz" in pxe_config, pxe_config
    assert f"metal.system_id={machine.system_id}" in pxe_config, pxe_config
    assert f"metal.token={token_active(machine).key}" in pxe_config, pxe_config


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_vm_netboots_into_the_ephemeral_environment(peers, lab, tmp_path):
    kernel, initrd = boot_images(lab.boot_resources_dir)
    machine = setup_region(lab, kernel, initrd)
    vm, rack = lab.vms[0], lab.racks[0]

    sync = lab.sync_images(rack)  # the rack's image cache, synced from the region now
    assert sync.returncode == 0, sync.stdout + sync.stderr + lab.logs_tail()
    cached = rack.cache_dir / "images/ephemeral/amd64"
    assert (cached / "linux").read_bytes() == kernel.read_bytes()
    assert (cached / "initrd.gz").stat().st_size == initrd.stat().st_size
    wait_until(lambda: "DHCP listening" in Path(rack.log).read_text(), 60, lab.logs_tail)

    started = time.monotonic()
    power = vm.power_on(netboot=True)  # our IPMI driver, from inside the lab, to the vBMC
    assert [power["before"], power["after"]] == ["off", "on"]
    vm.wait_for_console("metal: ephemeral environment up", timeout=180)
    text = vm.console_text()
    print(f"\nboot took {time.monotonic() - started:.0f}s; console:\n{text[-4000:]}")

    vm_ip = check_console(text, rack.address, vm.mac, lab.region_url, machine)
    check_region_saw(lab, vm_ip)
    check_timeline(machine, vm.mac)
    check_pxe_config(lab, machine, tmp_path)


def freeze_mid_transfer(lab, vm, timeout: float = 60) -> None:
    """Stop the VM (QMP) once the rack's HTTP server has data in flight to it: the connection is
    up (a reboot within a minute may wait 3 s for it: our TIME_WAIT answers lwIP's reused port
    with an ACK, lwIP resets and retries) and the transfer not over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sockets = lab.run_in(lab.racks[0].netns, ["ss", "-Htn", "state", "established",
                                                  "( sport = :5248 )"]).stdout.splitlines()
        if any(int(line.split()[1]) > 0 for line in sockets):  # Send-Q: unacknowledged bytes
            QMPClient(vm.qmp).execute("stop")
            return
        time.sleep(0.05)
    raise AssertionError(f"no HTTP transfer to {vm.name} within {timeout} s")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_boot_loader_that_dies_mid_transfer_is_power_cycled_into_another_netboot(peers, lab):
    """lpxelinux's lwIP now and then stops dead mid-kernel ("Boot failed: press a key") and
    waits for a key. Here the VM is frozen (QMP stop) while it loads its kernel (or its initrd,
    should the kernel be through before the freeze): bootsvc gives the transfer up after its
    stall timeout and reports how far it got, the region power cycles the machine through the
    rack and the vBMC, and the second netboot reaches the ephemeral environment."""
    kernel, initrd = boot_images(lab.boot_resources_dir)
    machine = setup_region(lab, kernel, initrd)
    vm, rack = lab.vms[0], lab.racks[0]
    assert lab.sync_images(rack).returncode == 0, lab.logs_tail()
    wait_until(lambda: "DHCP listening" in Path(rack.log).read_text(), 60, lab.logs_tail)

    booting = vm.console_size()
    vm.power_on(netboot=True)
    loading = f"Loading http://{rack.address}:5248/images/ephemeral/amd64/linux"
    wait_until(lambda: loading in vm.console_plain(booting), 120,
               lambda: vm.console_plain(booting))
    freeze_mid_transfer(lab, vm)  # the boot loader dies mid-transfer
    mark = vm.console_size()

    vm.wait_for_console("metal: ephemeral environment up", timeout=180, since=mark)
    events, timeline = machine_events(machine), timeline_text(machine.system_id)
    aborted = [e for e in events if e.type == "http_file" and "aborted after" in e.description]
    assert aborted, timeline
    broken = aborted[0].description.split()[2]  # "HTTP GET <path> aborted after ..."
    assert broken in ("images/ephemeral/amd64/linux", "images/ephemeral/amd64/initrd.gz"), timeline
    assert f"for {STALL_TIMEOUT} s" in aborted[0].description, timeline
    retry = [e.description for e in events if e.type == "boot_retry"]
    assert retry, timeline  # (a second one only if lpxelinux failed on its own as well)
    assert retry[0].startswith("PXE boot retry 1 of 2: the boot loader broke off fetching "
                               f"{broken} (no "), timeline
    cycled = [e for e in events
              if e.type == "power_request" and e.description.startswith("Power cycle")]
    assert cycled and cycled[0].created >= aborted[0].created, timeline
    served = [e.description for e in events if e.type == "http_file"
              and e.created > aborted[0].created and "aborted" not in e.description]
    assert any("amd64/linux" in d for d in served) and any("initrd.gz" in d for d in served), \
        timeline


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_subnet_set_to_ipxe_boots_bios_machines_through_ipxe_over_http(peers, lab, tmp_path):
    """Ironic's way, per subnet: a BIOS PXE ROM chainloads Debian's undionly.kpxe over TFTP, and
    iPXE (user class iPXE: qemu's ROM is iPXE already, so it goes straight there) gets the
    bootstrap script over HTTP, chains its per-MAC script and fetches kernel and initrd with its
    own HTTP stack, not lpxelinux's lwIP."""
    if not os.path.exists(UNDIONLY):
        skip_or_fail("ipxe is missing (apt-get install -y ipxe)")
    kernel, initrd = boot_images(lab.boot_resources_dir)
    machine = setup_region(lab, kernel, initrd, bios_boot_loader="ipxe")
    vm, rack = lab.vms[0], lab.racks[0]
    assert lab.sync_images(rack).returncode == 0, lab.logs_tail()
    wait_until(lambda: "DHCP listening" in Path(rack.log).read_text(), 60, lab.logs_tail)
    fetched = lab.run_in(lab.bridge_ns, ["curl", "-sS", "--max-time", "20", "-o",
                                         str(tmp_path / "undionly.kpxe"),
                                         f"tftp://{rack.address}/undionly.kpxe"])
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "undionly.kpxe").read_bytes() == Path(UNDIONLY).read_bytes()

    booting = vm.console_size()
    vm.power_on(netboot=True)
    vm.wait_for_console("metal: ephemeral environment up", timeout=180, since=booting)
    text = vm.console_plain(booting)
    assert f"http://{rack.address}:5248/ipxe/boot.ipxe" in text, text
    assert "PXELINUX" not in text, text
    wait_until(lambda: "http_file" in {e.type for e in machine_events(machine)}, 30,
               lambda: timeline_text(machine.system_id))
    events, timeline = machine_events(machine), timeline_text(machine.system_id)
    assert not any("lpxelinux" in e.description for e in events if e.type == "tftp_file"), \
        timeline
    served = " ".join(e.description for e in events if e.type == "http_file")
    for path in (f"ipxe/{vm.mac.replace(':', '-')}.ipxe", "images/ephemeral/amd64/linux",
                 "images/ephemeral/amd64/initrd.gz"):
        assert path in served, timeline
