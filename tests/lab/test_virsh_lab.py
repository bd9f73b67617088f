"""Issue 19 in the lab: a virsh chassis (libvirtd with two qemu TCG domains on the lab's taps)
added through the REST API becomes two machines; one commissions to Ready through the virsh
power driver on the rack, netbooting through our DHCP, TFTP and HTTP boot as IPMI machines do.

The lab's libvirtd is our own (lab.libvirt): it runs in the lab's bridge namespace, so its qemu
processes open the lab's taps and nothing else; the rack reaches it through its socket file.
"""
import time

import pytest

from lab.api import Api
from lab.libvirt import lab_libvirtd
from lab.libvirt import unavailable_reason as libvirt_unavailable
from nodes.services.bootresources import boot_resource_register_ephemeral
from tests.factories import AdminFactory, make_api_key
from tests.lab.helpers import build_boot_images, serve_lab_network, wait_for_status
from tests.processes import skip_or_fail, wait_until

pytestmark = [
    pytest.mark.lab(vms=2, racks=1, memory=512),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
WAIT = 300  # a netboot and the commissioning scripts under TCG, on two shared cores


@pytest.fixture(scope="module")
def libvirtd(lab_module):
    """The lab's libvirtd with one domain per lab VM (off)."""
    reason = libvirt_unavailable()
    if reason:
        skip_or_fail(reason)
    daemon = lab_libvirtd(lab_module)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def boot_files(lab_module):
    """The ephemeral kernel and initrd, built or reused from the cache, once per module."""
    ephemeral, _ = build_boot_images(lab_module.boot_resources_dir)
    return ephemeral.kernel, ephemeral.initrd


@pytest.fixture
def region(lab, libvirtd, boot_files) -> Api:
    """The region ready to netboot the lab's VMs (no enlistment: the chassis brings their
    MACs); an admin's API client on its real HTTP. The domains are off after each test."""
    boot_resource_register_ephemeral(*boot_files, series="bookworm")
    serve_lab_network(lab, allow_enlistment=False)
    try:
        yield Api(f"http://127.0.0.1:{lab.config.region_port}", make_api_key(AdminFactory()))
    finally:
        libvirtd.destroy_all()  # before the lab's teardown resets the disks


def chassis_events(api: Api, event_type: str) -> list[dict]:
    return api.items(f"events/?type={event_type}&limit=100")


def add_chassis(api: Api, lab, uri: str, seen: int) -> dict:
    """POST the virsh chassis; wait for the (seen + 1)th chassis_discovered event."""
    api.post("chassis/", {"chassis_type": "virsh", "hostname": uri})
    wait_until(lambda: len(chassis_events(api, "chassis_discovered")) > seen
               or chassis_events(api, "chassis_discovery_failed"), 120, lab.logs_tail)
    failed = chassis_events(api, "chassis_discovery_failed")
    assert not failed, failed
    return chassis_events(api, "chassis_discovered")[0]


def test_virsh_chassis_enlists_its_domains_and_one_commissions(lab, libvirtd, region):
    started = time.monotonic()
    add_chassis(region, lab, libvirtd.uri, 0)
    machines = {m["hostname"]: m for m in region.items("machines/")}
    print(f"\nchassis added in {time.monotonic() - started:.1f}s")
    assert set(machines) == {vm.name for vm in lab.vms}, machines
    for vm in lab.vms:
        found = machines[vm.name]
        assert found["power_type"] == "virsh", found
        assert found["architecture"] == "amd64/generic", found
        assert [nic["mac_address"] for nic in found["interface_set"]] == [vm.mac], found
        assert found["status_name"] == "New", found
        params = region.get(f"machines/{found['system_id']}/power-parameters/")
        assert params == {"power_type": "virsh", "power_parameters": {
            "power_address": libvirtd.uri, "power_id": vm.name}}, params

    add_chassis(region, lab, libvirtd.uri, 1)  # again: nothing new
    assert len(region.items("machines/")) == 2

    vm = lab.vms[0]
    system_id = machines[vm.name]["system_id"]
    started = time.monotonic()
    region.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(region, lab, system_id, "Ready", passing=("Commissioning",),
                            timeout=WAIT)
    print(f"commissioned in {time.monotonic() - started:.0f}s")
    assert ready["memory"] == vm.memory and ready["cpu_count"] == 1, ready
    assert "Linux version" in vm.console_plain()  # our ephemeral kernel on the domain's serial

    events = [(e["type"], e["description"]) for e in region.items(
        f"events/?machine={system_id}&limit=1000")]
    rack = lab.racks[0].name
    assert ("power_on", f"Power on done via {rack}: on") in events, events
    wait_until(lambda: region.get(f"machines/{system_id}/")["power_state"] == "off", WAIT,
               lab.logs_tail)
    conn = libvirtd.connect()
    try:
        assert not conn.lookupByName(vm.name).isActive()
        assert not conn.lookupByName(lab.vms[1].name).isActive()  # never started
    finally:
        conn.close()
