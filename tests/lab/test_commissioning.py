"""Issue 6 end to end: enlistment and commissioning of lab VMs, through the region's real HTTP.

Each test netboots a qemu VM (TCG) of the lab through our DHCP, TFTP and HTTP boot into the
ephemeral environment, whose /init runs the region's job runner: the built-in scripts (busybox)
and user scripts report to the metadata API and the region records the inventory, the results
and the machine's status. Operators' calls go to the region's REST API over HTTP with an admin
API key, as a MAAS client would. Expected hardware comes from the qemu command line the lab gave
the VM's BMC (`vbmc.json`), not from constants.

The region runs with short heartbeat settings and its beat, so that a runner that goes silent is
failed by the real sweep within seconds.
"""
import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.api import Api
from nodes.services.bootresources import boot_resource_register_ephemeral
from tests.factories import AdminFactory, make_api_key
from tests.lab.helpers import build_boot_images, serve_lab_network
from tests.processes import wait_until

HEARTBEAT_TIMEOUT = 20
pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=512, beat=True, env={
        "METADATA_HEARTBEAT_INTERVAL": "5",
        "METADATA_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "DEADLINE_CHECK_INTERVAL": "2",
    }),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
WAIT = 240  # seconds per wait: the lab's VMs share two cores with other work
BUILTIN_SCRIPTS = {"10-cpu", "10-memory", "20-block-devices", "20-network", "30-bmc", "30-dmi",
                   "30-firmware", "30-modaliases"}
FAILING_SCRIPT = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: 50-lab-fails
# title: Fails on purpose
# script_type: commissioning
# timeout: 60
# --- End MAAS 1.0 script metadata ---
echo "lab check: the frobnicator is missing"
exit 1
"""
HANGING_SCRIPT = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: 51-lab-hangs
# title: Overruns its timeout, with a child holding its output open
# script_type: commissioning
# timeout: 5
# --- End MAAS 1.0 script metadata ---
echo "hanging"
sleep 120 &
sleep 120
"""
SLEEPING_SCRIPT = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: 50-lab-sleeps
# title: Sleeps through the test
# script_type: commissioning
# timeout: 600
# --- End MAAS 1.0 script metadata ---
echo "sleeping"
sleep 300
"""


@dataclass
class Hardware:
    """What the lab's qemu command line gives a VM."""

    memory_mib: int
    cpus: int
    disk_bytes: int
    mac: str
    nic_driver: str


def vm_hardware(lab, index: int) -> Hardware:
    """The VM's hardware, read from the qemu command its BMC runs (the lab's vbmc.json)."""
    bmcs = json.loads((lab.state.dir / "vbmc.json").read_text())["bmcs"]
    argv = shlex.split(bmcs[index]["command"])
    options = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        options.setdefault(flag, []).append(value)
    smp = (options.get("-smp") or ["1"])[0]
    cpus = int(re.match(r"(?:cpus=)?(\d+)", smp).group(1))
    drive = dict(part.split("=", 1) for part in options["-drive"][0].split(",") if "=" in part)
    assert drive["if"] == "virtio", drive
    nic = options["-device"][0].split(",")
    assert nic[0] == "virtio-net-pci", nic
    mac = next(part.split("=", 1)[1] for part in nic if part.startswith("mac="))
    return Hardware(memory_mib=int(options["-m"][0]), cpus=cpus,
                    disk_bytes=os.path.getsize(drive["file"]), mac=mac, nic_driver="virtio_net")


@pytest.fixture(scope="module")
def boot_files(lab_module) -> tuple[Path, Path]:
    """The ephemeral kernel and initrd (cloud flavour: virtio), built or reused from the cache."""
    ephemeral, _ = build_boot_images(lab_module.boot_resources_dir)
    return ephemeral.kernel, ephemeral.initrd


@pytest.fixture
def region(lab, boot_files) -> Api:
    """The region ready to netboot the lab's VMs; an admin's API client on its real HTTP.

    The boot image, synced to the rack's cache; the lab's VLAN with DHCP on its rack and the
    subnet 10.99.0.0/24 (enlistment allowed) with a dynamic range, linked to the rack by its
    heartbeat.
    """
    boot_resource_register_ephemeral(*boot_files, series="bookworm")
    serve_lab_network(lab, allow_enlistment=True)
    return Api(f"http://127.0.0.1:{lab.config.region_port}", make_api_key(AdminFactory()))


def api_machines(api: Api, mac: str) -> list[dict]:
    return api.items(f"machines/?mac_address={mac}")


def machine(api: Api, system_id: str) -> dict:
    return api.get(f"machines/{system_id}/")


def wait_for_status(api: Api, lab, system_id: str, status_name: str) -> dict:
    """Poll the machine through the API until it reaches status_name; fail on another end."""
    final = {"Ready", "Failed commissioning", "Failed testing"} - {status_name}
    seen = {}

    def reached():
        seen.update(machine(api, system_id))
        assert seen["status_name"] not in final, (seen, events(api, system_id),
                                                  lab.logs_tail())
        return seen["status_name"] == status_name

    wait_until(reached, WAIT, lambda: f"{seen}\n{events(api, system_id)}\n{lab.logs_tail()}")
    return dict(seen)


def events(api: Api, system_id: str) -> list[tuple[str, str]]:
    path = f"events/?machine={system_id}&limit=1000"
    return [(event["type"], event["description"]) for event in api.items(path)]


def results(api: Api, system_id: str) -> dict:
    return api.get(f"machines/{system_id}/results/current-commissioning/")


def output(api: Api, system_id: str, script: str, stream: str = "combined") -> str:
    return api.raw("GET", f"machines/{system_id}/results/current-commissioning/{script}/"
                          f"output/?stream={stream}").decode()


def create_ipmi_machine(api: Api, vm, hostname: str) -> str:
    """The VM as a machine with IPMI power through its BMC (REST API, as an operator)."""
    created = api.post("machines/", {
        "hostname": hostname, "architecture": "amd64/generic", "mac_addresses": [vm.mac],
        "power_type": "ipmi", "power_parameters": vm.power_parameters})
    return created["system_id"]


def upload_script(api: Api, body: str) -> str:
    script = api.post("scripts/", {"body": body})
    assert script["script_type"] == "commissioning", script
    return script["name"]


def wait_powered_off(lab, vm) -> None:
    wait_until(lambda: not vm.running(), WAIT, lambda: vm.console_text()[-3000:]
               + lab.logs_tail())


def check_inventory(api: Api, found: dict, hardware: Hardware) -> None:
    """CPU, memory, the virtio disk and NIC as the VM's qemu command line defines them."""
    assert found["cpu_count"] == hardware.cpus, found
    assert found["memory"] == hardware.memory_mib, found
    assert found["architecture"].startswith("amd64/"), found
    assert (found["firmware"], found["secure_boot"]) == ("bios", None), found  # SeaBIOS
    disks = {d["name"]: d for d in found["blockdevice_set"]}
    assert set(disks) == {"vda"}, disks
    assert disks["vda"]["size"] == hardware.disk_bytes, disks
    assert [nic["mac_address"] for nic in found["interface_set"]] == [hardware.mac], found
    assert found["boot_interface"]["mac_address"] == hardware.mac, found
    nic_name = found["interface_set"][0]["name"]
    network = output(api, found["system_id"], "20-network", "stdout")
    assert (f"name={nic_name}\tmac={hardware.mac}\tdriver={hardware.nic_driver}\t"
            in network), network


def check_builtins_passed(api: Api, system_id: str) -> None:
    current = results(api, system_id)
    statuses = {r["script_name"]: r["status_name"] for r in current["results"]}
    assert statuses == dict.fromkeys(BUILTIN_SCRIPTS, "Passed"), current
    assert current["status_name"] == "Passed", current


def test_unknown_vm_enlists_and_commissions_itself(lab, region):
    vm = lab.vms[0]
    hardware = vm_hardware(lab, 0)
    assert not api_machines(region, vm.mac)
    started = time.monotonic()
    vm.netboot_kernel()  # directly at its BMC: the region knows nothing of it, retries nothing

    found = wait_until(lambda: api_machines(region, vm.mac), WAIT, lab.logs_tail)
    assert len(found) == 1, found
    system_id = found[0]["system_id"]
    ready = wait_for_status(region, lab, system_id, "Ready")
    print(f"\nenlisted and commissioned in {time.monotonic() - started:.0f}s")

    assert len(region.items("machines/")) == 1
    assert ready["power_type"] == "manual", ready
    check_inventory(region, ready, hardware)
    check_builtins_passed(region, system_id)
    timeline = events(region, system_id)
    types = [event_type for event_type, _ in timeline]
    assert "enlisted" in types and "job_finished" in types, types
    # Manual power: nothing the region can do; the runner powered the VM off itself.
    assert ("power_request", "Power off: power type manual, the operator does it") in timeline
    wait_powered_off(lab, vm)


def test_machine_added_with_its_bmc_commissions_through_the_rack(lab, region):
    vm = lab.vms[0]
    hardware = vm_hardware(lab, 0)
    system_id = create_ipmi_machine(region, vm, "lab-ipmi")
    assert not vm.running()

    started = time.monotonic()
    region.post(f"machines/{system_id}/commission/")
    ready = wait_for_status(region, lab, system_id, "Ready")
    print(f"\ncommissioned in {time.monotonic() - started:.0f}s")

    check_inventory(region, ready, hardware)
    check_builtins_passed(region, system_id)
    rack_queue = f"rack.{lab.racks[0].name}"
    timeline = events(region, system_id)
    # Powered on and off by the rack's IPMI driver at the VM's BMC, from inside the lab.
    assert ("power_on", f"Power on done via {lab.racks[0].name}: on") in timeline, timeline
    assert any(t == "power_request" and d == f"Power on sent to {rack_queue}"
               for t, d in timeline), timeline
    wait_until(lambda: machine(region, system_id)["power_state"] == "off", WAIT,
               lambda: f"{events(region, system_id)}\n{lab.logs_tail()}")
    assert ("power_off", f"Power off done via {lab.racks[0].name}: off") in events(
        region, system_id)
    wait_powered_off(lab, vm)


def test_failing_user_scripts_fail_commissioning(lab, region):
    vm = lab.vms[0]
    name, hangs = upload_script(region, FAILING_SCRIPT), upload_script(region, HANGING_SCRIPT)
    system_id = create_ipmi_machine(region, vm, "lab-fails")

    region.post(f"machines/{system_id}/commission/", {"commissioning_scripts": [name, hangs]})
    failed = wait_for_status(region, lab, system_id, "Failed commissioning")

    assert failed["error_description"] == (f"commissioning script {name} failed (exit 1) "
                                           "(and 1 more)"), failed
    by_name = {r["script_name"]: r for r in results(region, system_id)["results"]}
    statuses = {script: (r["status_name"], r["exit_status"]) for script, r in by_name.items()}
    assert statuses[name] == ("Failed", 1), statuses
    assert all(statuses[s] == ("Passed", 0) for s in BUILTIN_SCRIPTS), statuses
    assert "lab check: the frobnicator is missing" in output(region, system_id, name)
    # The watchdog ended the script's whole process group at its timeout, child included.
    assert statuses[hangs][0] == "Timed out", statuses
    assert 5 <= by_name[hangs]["runtime"] < 30, by_name[hangs]
    assert output(region, system_id, hangs).startswith("hanging\n")
    wait_until(lambda: machine(region, system_id)["power_state"] == "off", WAIT,
               lambda: f"{events(region, system_id)}\n{lab.logs_tail()}")
    wait_powered_off(lab, vm)


def test_vm_killed_mid_commissioning_fails_on_silence(lab, region):
    vm = lab.vms[0]
    name = upload_script(region, SLEEPING_SCRIPT)
    system_id = create_ipmi_machine(region, vm, "lab-killed")
    region.post(f"machines/{system_id}/commission/", {"commissioning_scripts": [name]})

    def sleeping() -> bool:
        statuses = {r["script_name"]: r["status_name"]
                    for r in results(region, system_id)["results"]}
        return statuses[name] == "Running"

    wait_until(sleeping, WAIT, lambda: f"{results(region, system_id)}\n{lab.logs_tail()}")
    assert vm.power_off()["after"] == "off"  # pulled the plug at the BMC, behind the region's back
    killed = time.monotonic()

    failed = wait_for_status(region, lab, system_id, "Failed commissioning")
    silent_for = time.monotonic() - killed
    print(f"\nfailed {silent_for:.0f}s after the VM was killed")
    assert re.fullmatch(r"runner silent since \S+", failed["error_description"]), failed
    assert silent_for >= HEARTBEAT_TIMEOUT - 10, silent_for  # last ping: up to one interval ago
    assert any(t == "heartbeat_lost" for t, _ in events(region, system_id))
    statuses = {r["script_name"]: r["status_name"] for r in results(region, system_id)["results"]}
    assert statuses[name] == "Aborted", statuses
