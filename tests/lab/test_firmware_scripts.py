"""Issue 19 end to end: firmware-update scripts on a lab VM, one commissioning, one boot sequence.

The VM (SeaBIOS, a virtio NIC: PCI 1af4:1000) commissions through the rack with four user
scripts: a `for_hardware` one that matches its NIC's PCI id and one that matches nothing (recorded
Skipped); a `may_reboot` one that prints, saves its output (`metal-save-output`) and reboots the
VM with `reboot -f`: the VM netboots back into the same commissioning job and the script runs
again with HAS_STARTED=True, printing its second half; and a `recommission` one after which the
built-in scripts run again. The region's heartbeat timeout is short (20 s): the reboot's silence
is allowed up to MACHINE_BOOT_TIMEOUT.
"""
import time

import pytest

from lab.api import Api
from tests.lab.test_commissioning import (  # noqa: F401 (boot_files, region: fixtures)
    BUILTIN_SCRIPTS,
    boot_files,
    create_ipmi_machine,
    events,
    output,
    region,
    results,
    upload_script,
    wait_for_status,
)

pytestmark = [
    pytest.mark.lab(vms=1, racks=1, memory=512, beat=True, env={
        "METADATA_HEARTBEAT_INTERVAL": "5",
        "METADATA_HEARTBEAT_TIMEOUT": "20",
        "MACHINE_BOOT_TIMEOUT": "300",
        "DEADLINE_CHECK_INTERVAL": "2",
    }),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def script(name: str, metadata: str, body: str) -> str:
    lines = "".join(f"# {line}\n" for line in metadata.strip().splitlines())
    return (f"#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: {name}\n"
            f"# script_type: commissioning\n# timeout: 120\n{lines}"
            f"# --- End MAAS 1.0 script metadata ---\n{body}")


NIC_FIRMWARE = script("50-lab-virtio-fw", "for_hardware: ['pci:1af4:1000']",
                      'echo "virtio NIC firmware checked"\n')
OTHER_FIRMWARE = script("51-lab-x710-fw", "for_hardware: ['pci:8086:1572']",
                        'echo "never runs"\n')
REBOOTS = script("60-lab-reboots", "may_reboot: true", """\
if [ "$HAS_STARTED" = True ]; then
    echo "second half: back after the reboot"
    exit 0
fi
echo "first half: flashing, then rebooting"
metal-save-output  # busybox runs its reboot applet at once: save what was printed first
reboot -f
sleep 60
""")
RECOMMISSION = script("70-lab-recommission", "recommission: true",
                      'echo "flashed: inventory again"\n')


def test_firmware_scripts_match_reboot_and_recommission(lab, region: Api):  # noqa: F811
    vm = lab.vms[0]
    names = [upload_script(region, body)
             for body in (NIC_FIRMWARE, OTHER_FIRMWARE, REBOOTS, RECOMMISSION)]
    system_id = create_ipmi_machine(region, vm, "lab-firmware")
    mark = vm.console_size()
    started = time.monotonic()
    region.post(f"machines/{system_id}/commission/", {"commissioning_scripts": names})
    ready = wait_for_status(region, lab, system_id, "Ready")
    print(f"\nfirmware commissioning with a reboot: {time.monotonic() - started:.0f}s")
    assert ready["status_name"] == "Ready", ready

    statuses = {r["script_name"]: r["status_name"]
                for r in results(region, system_id)["results"]}
    assert statuses == {**dict.fromkeys(BUILTIN_SCRIPTS | {"30-modaliases"}, "Passed"),
                        "50-lab-virtio-fw": "Passed", "51-lab-x710-fw": "Skipped",
                        "60-lab-reboots": "Passed", "70-lab-recommission": "Passed"}, statuses
    assert "1af4" in output(region, system_id, "30-modaliases", "stdout").lower()
    assert output(region, system_id, "51-lab-x710-fw").startswith(
        "Skipped: no hardware matching for_hardware pci:8086:1572")
    rebooted = output(region, system_id, "60-lab-reboots", "stdout")
    assert rebooted == ("first half: flashing, then rebooting\n"
                        "second half: back after the reboot\n"), (
        rebooted, output(region, system_id, "60-lab-reboots"), vm.console_plain(mark)[-6000:])
    # Two kernels booted on the console: the VM really rebooted mid-commissioning.
    assert vm.console_plain(mark).count("Linux version") == 2, vm.console_plain(mark)[-3000:]

    timeline = events(region, system_id)
    starts = [d for t, d in timeline if t == "script_started"]
    assert starts.count("commissioning script 10-cpu started") == 2, starts  # recommission
    assert starts.count("commissioning script 60-lab-reboots started") == 2, starts
    assert any(t == "script_resumed" for t, _ in timeline), timeline
    assert any(t == "inventory_rerun" for t, _ in timeline), timeline
    assert not any(t == "heartbeat_lost" for t, _ in timeline), timeline
