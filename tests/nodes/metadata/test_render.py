"""Rendering the runner: valid sh, scripts in name order, parameters quoted, no injection."""
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from nodes.metadata.render import job_spec, parameter_env, render_runner

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def result(pk, name, *, timeout=0, parallel="disabled", parameters=None):
    script = SimpleNamespace(timeout=timeout, parallel=parallel, hardware_type="node",
                             may_reboot=False)
    return SimpleNamespace(pk=pk, script_name=name, script=script, parameters=parameters or {})


def spec(*results, job="commissioning"):
    return job_spec(system_id="abc123", job=job, script_set_id=9, results=list(results),
                    heartbeat_interval=15, poweroff=True)


def test_parameters_become_environment_variables():
    assert parameter_env({"storage": "sda", "run-time": {"value": 30}, "flag": True,
                          "disks": ["sda", "sdb"], "PATH": "/evil", "9lives": "x",
                          "none": None}) == {
        "STORAGE": "sda", "RUN_TIME": "30", "FLAG": "1", "DISKS": "sda sdb", "NONE": ""}


def test_runner_lists_scripts_in_name_order_with_their_settings():
    text = render_runner(spec(result(7, "20-b", timeout=60, parallel="any"), result(3, "10-a")),
                         "http://region:5240/")
    assert "SCRIPTS='3 10-a 0 disabled 0 0\n7 20-b 60 any 0 0'" in text
    assert 'REGION="${METAL_REGION:-http://region:5240/}"' in text
    assert 'SYSTEM_ID="${METAL_SYSTEM_ID:-abc123}"' in text
    assert "JOB=commissioning\nHEARTBEAT=15\n" in text


@pytest.mark.skipif(not os.access(BUSYBOX, os.X_OK), reason="busybox is missing")
def test_rendered_runner_is_valid_sh_and_nothing_injected_runs(tmp_path):
    marker = tmp_path / "pwned"
    attack = f"$(touch {marker}) `touch {marker}` '; touch {marker}; '"
    value = f"it's {attack} \"quoted\"\n new line"
    hostile = result(5, f"x'; touch {marker}; '", parameters={"msg": value})
    path = tmp_path / "job"
    path.write_text(render_runner(spec(hostile), f'http://r/"; touch {marker}; "'))
    check = subprocess.run([BUSYBOX, "sh", "-n", str(path)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    # Every top-level line runs, then the script's environment is printed instead of main.
    path.write_text(path.read_text().replace("\nmain\n", '\nscript_env 5; printf %s "$MSG"\n'))
    out = subprocess.run([BUSYBOX, "sh", str(path)], capture_output=True, text=True,
                         check=False)
    assert out.stdout == value
    assert not marker.exists()
