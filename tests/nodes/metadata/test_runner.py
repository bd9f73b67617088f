"""The real runner: rendered by the region, run by this host's busybox against a live region."""
import os
import shutil
import subprocess
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from nodes.choices import NodeStatus, ResultType, ScriptStatus
from nodes.models import Event, Machine, Script, ScriptResult
from nodes.services.tokens import token_active
from rack_worker.env import env_bool
from tests.factories import ScriptFactory, ScriptResultFactory, SubnetFactory, machine_lease
from tests.nodes.api.metadata_helpers import running_job
from zones.models import DHCPLease

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
PASS = '#!/bin/sh\nsleep 1\necho "hello $GREETING"\necho warn >&2\necho r=1 > "$RESULT_PATH"\n'
FAIL = "#!/bin/sh\necho failing\nexit 1\n"
SLEEP = "#!/bin/sh\necho start\nsleep 30\necho never\n"


@pytest.fixture
def busybox_path(tmp_path) -> str:
    """A PATH of busybox applets only (as in the initramfs), with a harmless poweroff."""
    if not os.access(BUSYBOX, os.X_OK):
        message = "busybox is missing (apt-get install busybox-static)"
        if env_bool("CI"):
            pytest.fail(message)
        pytest.skip(message)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    subprocess.run([BUSYBOX, "--install", "-s", str(bindir)], check=True)
    (bindir / "poweroff").unlink()
    (bindir / "poweroff").write_text('#!/bin/sh\necho called > "$METAL_RUNNER_DIR/poweroff"\n')
    (bindir / "poweroff").chmod(0o755)
    return str(bindir)


@pytest.fixture
def region(live_server, settings) -> str:
    settings.METADATA_HEARTBEAT_INTERVAL = 1
    # busybox wget takes the first address of "localhost", which may be ::1.
    return live_server.url.replace("localhost", "127.0.0.1") + "/"


def fetch_job(region: str, machine=None, key: str = "") -> Path:
    """The job as the machine's runner fetches it (from 127.0.0.1, leased to the machine)."""
    headers = {"Authorization": f"Machine {machine.system_id}:{key}"} if key else {}
    if key:
        machine_lease(machine, "127.0.0.1")
    request = urllib.request.Request(region + "api/v1/metadata/job/", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def run_runner(runner: bytes, tmp_path: Path, path: str, region: str, **env: str):
    script = tmp_path / "job"
    script.write_bytes(runner)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    environment = {"PATH": path, "METAL_REGION": region, "METAL_RUNNER_DIR": str(work),
                   "METAL_RUNNER_NO_POWEROFF": "1", **env}
    started = time.monotonic()
    done = subprocess.run([BUSYBOX, "sh", str(script)], env=environment, capture_output=True,
                          text=True, timeout=90, check=False)
    return done, time.monotonic() - started


def script_result(script_set, name, body, *, timeout=10, parallel="disabled", parameters=None):
    script = ScriptFactory(name=name, script_type="commissioning", body=body, timeout=timeout,
                           parallel=parallel)
    return ScriptResultFactory(script_set=script_set, script=script, script_name=name,
                               parameters=parameters or {})


@pytest.mark.django_db(transaction=True)
def test_runner_runs_scripts_and_the_region_stores_what_happened(region, busybox_path, tmp_path):
    machine, script_set, _none, key = running_job(names=())
    passing = script_result(script_set, "01-pass", PASS, parallel="any",
                            parameters={"greeting": "world"})
    failing = script_result(script_set, "02-fail", FAIL, parallel="any")
    sleeping = script_result(script_set, "03-sleep", SLEEP, timeout=2)
    done, seconds = run_runner(fetch_job(region, machine, key), tmp_path, busybox_path, region,
                               METAL_SYSTEM_ID=machine.system_id, METAL_TOKEN=key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds < 20, "the timed-out script's sleep was not killed"
    assert "metal: job over: would power off" in done.stdout
    assert key not in done.stdout + done.stderr

    passing, failing, sleeping = (ScriptResult.objects.get(pk=r.pk)
                                  for r in (passing, failing, sleeping))
    assert (passing.status, passing.exit_status) == (ScriptStatus.PASSED, 0)
    assert bytes(passing.stdout) == b"hello world\n"
    assert bytes(passing.stderr) == b"warn\n"
    assert sorted(bytes(passing.output).splitlines()) == [b"hello world", b"warn"]
    assert bytes(passing.result) == b"r=1\n"
    assert 1 <= passing.runtime < 10
    assert (failing.status, failing.exit_status) == (ScriptStatus.FAILED, 1)
    assert bytes(failing.stdout) == b"failing\n"
    assert sleeping.status == ScriptStatus.TIMEDOUT
    assert bytes(sleeping.stdout) == b"start\n"
    assert 2 <= sleeping.runtime < 10
    # 01 and 02 allow parallel runs: 02 started before 01 (which sleeps 1 s) ended.
    assert failing.started < passing.ended
    assert sleeping.started >= max(passing.ended, failing.ended)

    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.error_description == "commissioning script 02-fail failed (exit 1) (and 1 more)"
    assert token_active(machine) is None
    script_set.refresh_from_db()
    assert script_set.last_ping is not None and script_set.finished is not None
    types = list(Event.objects.filter(machine=machine).values_list("type", flat=True))
    assert types.count("script_started") == 3 and types.count("script_finished") == 3
    assert "job_finished" in types


@pytest.mark.django_db(transaction=True)
def test_commissioning_then_testing_in_one_boot(region, busybox_path, tmp_path):
    machine, commissioning, _none, key = running_job(names=())
    first = script_result(commissioning, "01-ok", "#!/bin/sh\necho fine\n")
    _m, testing, (test_result,), _k = running_job(machine, names=("50-ok",),
                                                  result_type=ResultType.TESTING, token=False)
    done, _seconds = run_runner(fetch_job(region, machine, key), tmp_path, busybox_path, region,
                                METAL_SYSTEM_ID=machine.system_id, METAL_TOKEN=key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metal: next job" in done.stdout and "metal: testing job for" in done.stdout
    assert (tmp_path / "work" / "poweroff").exists() is False  # honoured NO_POWEROFF
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY, machine.error_description
    assert {ScriptResult.objects.get(pk=r.pk).status for r in (first, test_result)} == {
        ScriptStatus.PASSED}
    assert token_active(machine) is None


@pytest.mark.django_db(transaction=True)
def test_enlistment_runner_enlists_and_commissions_in_the_same_boot(region, busybox_path,
                                                                    tmp_path):
    subnet = SubnetFactory(cidr="127.0.0.0/8", allow_enlistment=True)
    # The rack leased the unknown machine its address: its new token works from there only.
    DHCPLease.objects.create(ip="127.0.0.1", mac="52:54:00:77:00:01", subnet=subnet,
                             expires=timezone.now() + timedelta(hours=1))
    Script.objects.all().delete()  # no built-in inventory scripts on this host
    done, _seconds = run_runner(fetch_job(region), tmp_path, busybox_path, region,
                                METAL_MAC="52:54:00:77:00:01")
    assert done.returncode == 0, done.stdout + done.stderr
    machine = Machine.objects.get()
    assert f"metal: enlisted as {machine.system_id}" in done.stdout
    assert machine.interfaces.order_by("id").first().mac_address == "52:54:00:77:00:01"
    assert machine.status == NodeStatus.READY, machine.error_description
    assert machine.cpu_count > 0 and machine.memory > 0
    assert "metal: job over: would power off" in done.stdout
    assert Event.objects.filter(machine=machine, type="enlisted").exists()
