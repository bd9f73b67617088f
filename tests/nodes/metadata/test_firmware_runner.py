"""The real runner (this host's busybox) and a live region through a firmware-update job:
for_hardware after the inventory, a may_reboot script whose machine reboots mid-script and
comes back, and recommission's second inventory."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nodes.choices import NodeStatus, ScriptStatus
from nodes.models import Event, Machine, Script, ScriptResult
from tests.factories import ScriptFactory, ScriptResultFactory
from tests.nodes.api.metadata_helpers import running_job

# Fixtures shared with the runner's own tests (pytest finds them by name in this module).
from tests.nodes.metadata.test_runner import (  # noqa: F401
    BUSYBOX,
    busybox_path,
    fetch_job,
    region,
)
from tests.processes import wait_until

VIRTIO_NET = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
INVENTORY = f"#!/bin/sh\nprintf 'bus=pci\\tmodalias={VIRTIO_NET}\\n'\n"
REBOOTS = """#!/bin/sh
if [ "$HAS_STARTED" = True ]; then
    echo "second half: firmware is new"
    exit 0
fi
echo "first half: flashing"
echo "flash log" >&2
metal-save-output
reboot -f
sleep 60
"""
FAKE_REBOOT = '#!/bin/sh\necho "$@" > "$METAL_RUNNER_DIR/rebooted"\nsleep 60\n'


def add(script_set, name: str, body: str, **fields) -> ScriptResult:
    script = ScriptFactory(name=name, script_type="commissioning", body=body, timeout=30,
                           **fields)
    return ScriptResultFactory(script_set=script_set, script=script, script_name=name)


def start_runner(runner: bytes, work: Path, path: str, url: str, machine, key: str):
    """The runner in its own session, as /init starts it in a fresh boot."""
    work.mkdir(parents=True)
    (work / "job").write_bytes(runner)
    env = {"PATH": path, "METAL_REGION": url, "METAL_RUNNER_DIR": str(work),
           "METAL_RUNNER_NO_POWEROFF": "1", "METAL_SYSTEM_ID": machine.system_id,
           "METAL_TOKEN": key}
    return subprocess.Popen([BUSYBOX, "sh", str(work / "job")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def pull_the_plug(runner, work: Path, result: ScriptResult) -> None:
    """The reboot: every process of the runner and of the script (its own session) dies."""
    pid = int((work / "commissioning" / str(result.pk) / "pid").read_text())
    for group in (runner.pid, pid):
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    runner.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_firmware_job_survives_a_reboot_and_runs_the_inventory_again(
        region, busybox_path, tmp_path):  # noqa: F811 (the imported fixtures)
    bindir = Path(busybox_path)
    (bindir / "reboot").unlink()
    (bindir / "reboot").write_text(FAKE_REBOOT)
    (bindir / "reboot").chmod(0o755)
    machine, script_set, _none, key = running_job(names=())
    Script.objects.filter(name="30-modaliases").update(body=INVENTORY)
    ScriptResultFactory(script_set=script_set, script=Script.objects.get(name="30-modaliases"),
                        script_name="30-modaliases")
    matching = add(script_set, "50-match", "#!/bin/sh\necho matched\n",
                   for_hardware=["pci:1af4:1000"])
    other = add(script_set, "51-no-match", "#!/bin/sh\necho never\n",
                for_hardware=["pci:8086:1572"])
    reboots = add(script_set, "60-reboots", REBOOTS, may_reboot=True)
    flash = add(script_set, "70-recommission", "#!/bin/sh\necho flashed\n", recommission=True)

    started = time.monotonic()
    first = start_runner(fetch_job(region, machine, key), tmp_path / "boot1", busybox_path,
                         region, machine, key)
    wait_until(lambda: (tmp_path / "boot1" / "rebooted").exists(), 60,
               lambda: first.stdout.read() if first.poll() is not None else "still running")
    assert (tmp_path / "boot1" / "rebooted").read_text() == "-f\n"
    pull_the_plug(first, tmp_path / "boot1", reboots)
    reboots.refresh_from_db()
    assert reboots.status == ScriptStatus.RUNNING
    assert bytes(reboots.stdout) == b"first half: flashing\n"  # uploaded before the reboot
    assert bytes(reboots.stderr) == b"flash log\n"

    second = start_runner(fetch_job(region, machine, key), tmp_path / "boot2", busybox_path,
                          region, machine, key)
    out, _ = second.communicate(timeout=90)
    print(f"\nfirmware job on the host runner: {time.monotonic() - started:.1f}s")
    assert second.returncode == 0, out
    assert "metal: job over: would power off" in out, out

    machine = Machine.objects.get(pk=machine.pk)
    assert machine.status == NodeStatus.READY, (machine.error_description, out)
    statuses = {r.script_name: r.status for r in ScriptResult.objects.filter(
        script_set=script_set)}
    assert statuses == {"30-modaliases": "passed", "50-match": "passed",
                        "51-no-match": "skipped", "60-reboots": "passed",
                        "70-recommission": "passed"}
    reboots.refresh_from_db()
    assert bytes(reboots.stdout) == b"first half: flashing\nsecond half: firmware is new\n"
    combined = bytes(reboots.output).decode()
    assert combined.index("first half") < combined.index("the machine rebooted") \
        < combined.index("second half"), combined
    other.refresh_from_db()
    assert bytes(other.output).startswith(b"Skipped: no hardware matching")
    starts = list(Event.objects.filter(machine=machine, type="script_started").values_list(
        "description", flat=True))
    assert starts.count("commissioning script 30-modaliases started") == 2, starts
    assert starts.count("commissioning script 60-reboots started") == 2, starts
    assert Event.objects.filter(machine=machine, type="inventory_rerun").exists()
    assert matching.pk and flash.pk
