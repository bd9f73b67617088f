"""Rack processes load nothing of the region: each entry point, imported in a fresh interpreter.

The import contracts see only the project's own imports; this also catches what third-party
code pulls in at run time (Celery's Django fixup loads the region's settings, for one).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
DRIVERS = sorted(
    f"power.drivers.{path.stem}" for path in (PROJECT_DIR / "power" / "drivers").glob("*.py")
    if path.stem != "__init__"
)
ENTRY_POINTS = [
    "rack_worker.__main__", "rack_worker.celery_app", "rack_worker.tasks", "rack_worker.rackd",
    "rack_worker.imagecache", "bootsvc.__main__", "bootsvc.service", "bootsvc.dhcp.__main__",
    "power.drivers", *DRIVERS,
]
# django.utils may load (kombu probes it for lazy strings); settings, apps or the ORM must not.
FORBIDDEN = [
    "django.conf", "django.apps", "django.db", "maasproject", "nodes", "zones", "lab",
    "power.models", "power.services", "power.secrets", "power.api", "power.admin", "power.apps",
]
REPORT = """
import json, sys
forbidden = {forbidden!r}
print(json.dumps(sorted(name for name in sys.modules
                        if any(name == f or name.startswith(f + ".") for f in forbidden))))
"""


def loaded_region_modules(code: str, tmp_path: Path, **env: str) -> list[str]:
    """Run code in a fresh interpreter; the forbidden modules it left in sys.modules."""
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # VAR_DIR: the rack's Celery app creates the filesystem broker's folders on import.
    clean.update(VAR_DIR=str(tmp_path), **env)
    result = subprocess.run(
        [sys.executable, "-c", code + REPORT.format(forbidden=FORBIDDEN)], cwd=PROJECT_DIR,
        env=clean, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_a_rack_entry_point_loads_nothing_of_the_region(module, tmp_path):
    assert loaded_region_modules(f"import {module}\n", tmp_path) == []


def test_every_driver_is_covered():
    assert {"power.drivers.ipmi", "power.drivers.redfish", "power.drivers.base"} <= set(DRIVERS)


def test_the_driver_registry_loads_every_driver_without_the_region(tmp_path):
    code = "from power.drivers.registry import get_registry\nget_registry()\n"
    assert loaded_region_modules(code, tmp_path) == []


def test_a_rack_worker_started_from_a_region_shell_loads_no_django(tmp_path):
    """DJANGO_SETTINGS_MODULE inherited: the worker's start (task modules) still skips Django."""
    code = ("from rack_worker.celery_app import app\n"
            "app.loader.import_default_modules()\n"  # what the worker runs at its start
            "assert 'rack_worker.tasks.power' in app.tasks\n")
    loaded = loaded_region_modules(code, tmp_path,
                                   DJANGO_SETTINGS_MODULE="maasproject.settings")
    assert loaded == []
