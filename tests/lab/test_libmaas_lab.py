"""Issue 14: a real VM driven only through python-libmaas and /MAAS/api/2.0/.

The lab's VM (SeaBIOS and iPXE in qemu, an IPMI BMC) is added with its BMC by libmaas (the
region commissions it: it netboots and the built-in scripts fill in the inventory), tagged,
allocated by zone, tags, CPUs and memory, deployed with user data (the test OS, which runs the
user data at its first boot from the disk and reports), its power queried, released with a
quick erase (Disk erasing in the ephemeral environment), and Ready without an owner, off.
Images and the lab network are set up as the other lab tests do; every machine action is a
libmaas call.
"""
import secrets
import time

import pytest

from nodes.bootimages import testos
from tests.factories import AdminFactory, UserFactory, make_api_key
from tests.lab.helpers import (
    build_boot_images,
    register_boot_images,
    serve_lab_network,
    timeline,
    timeline_text,
)
from tests.processes import wait_until

maas_client = pytest.importorskip("maas.client", reason="python-libmaas (requirements-dev.txt)")
from maas.client.enum import NodeStatus as MaasStatus  # noqa: E402

pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=512),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
WAIT = 900  # seconds per stage: TCG, two cores shared with other work


@pytest.fixture
def clients(lab):
    """Images registered and on the rack, DHCP served; libmaas clients of an admin and a user."""
    ephemeral, deployable = build_boot_images(lab.boot_resources_dir, test_os=True)
    register_boot_images(ephemeral, deployable)
    serve_lab_network(lab)
    url = f"http://127.0.0.1:{lab.config.region_port}/MAAS/"
    return (maas_client.connect(url, apikey=make_api_key(AdminFactory(username="lab-admin"))),
            maas_client.connect(url, apikey=make_api_key(UserFactory(username="lab-user"))))


def wait_status(machine, lab, wanted: str, passing: tuple[str, ...]) -> float:
    """Refresh the libmaas machine until `wanted` (failing at once on a status not in
    `passing`); the seconds it took."""
    started = time.monotonic()

    def reached() -> bool:
        machine.refresh()
        assert machine.status_name in (wanted, *passing), (
            machine.status_name, timeline_text(machine.system_id), lab.logs_tail())
        return machine.status_name == wanted

    wait_until(reached, WAIT, lambda: f"{machine.status_name}\n"
               f"{timeline_text(machine.system_id)}\n{lab.logs_tail()}")
    return time.monotonic() - started


def test_a_real_vm_through_its_lifecycle_with_python_libmaas_only(lab, clients):
    admin, user = clients
    vm = lab.vms[0]
    machine = admin.machines.create("amd64/generic", [vm.mac], "ipmi", vm.power_parameters,
                                    hostname="libmaas-vm")
    assert machine.status == MaasStatus.COMMISSIONING  # MAAS commissions what an admin adds
    seconds = {"commission": wait_status(machine, lab, "Ready", ("Commissioning",))}
    assert machine.cpus == 1 and machine.memory >= 400  # the VM's own inventory
    assert [disk.name for disk in machine.block_devices] == ["vda"]
    wait_until(lambda: machine.query_power_state().value == "off" and not vm.running(), 240,
               lab.logs_tail)

    admin.zones.create("lab-zone")
    machine.zone = admin.zones.get("lab-zone")
    machine.save()
    machine.tags.add(admin.tags.create("lab-vm"))
    allocated = user.machines.allocate(zone="lab-zone", tags=["lab-vm"], cpus=1, memory=256)
    assert (allocated.system_id, allocated.status_name) == (machine.system_id, "Allocated")

    marker = f"MARKER-{secrets.token_hex(4)}"
    allocated.deploy(user_data=f"#!/bin/sh\necho {marker}\n".encode())
    seconds["deploy"] = wait_status(allocated, lab, "Deployed", ("Deploying",))
    assert (allocated.osystem, allocated.distro_series) == (testos.OS_NAME, testos.SERIES)
    assert allocated.query_power_state().value == "on" and vm.running()
    assert any(e.type == "user_data_output" and marker in e.description
               for e in timeline(machine.system_id))
    events = user.events.query(system_ids=[machine.system_id])
    assert any("deploy" in event.event_type.lower() for event in events)

    allocated.release(quick_erase=True, comment="done by libmaas")
    seconds["release with quick erase"] = wait_status(allocated, lab, "Ready",
                                                      ("Disk erasing",))
    assert allocated.owner is None
    assert any(e.type == "erase_report" and "quick erase" in e.description
               for e in timeline(machine.system_id))
    # No longer the user's: only an administrator may ask its BMC now.
    wait_until(lambda: machine.query_power_state().value == "off" and not vm.running(), 240,
               lab.logs_tail)
    print("\n" + ", ".join(f"{stage} {value:.0f}s" for stage, value in seconds.items()))
