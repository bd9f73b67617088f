"""The import-linter contracts: rack-side code imports nothing of the region, the project
(maasproject), the lab or Django; the lab (lab/) drives the region through processes and HTTP.

Checks that `lint-imports` passes on the tree, that the contracts catch forbidden imports (a copy
of the packages with bad modules added), and that the contracts list every region module that
exists.
"""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}
RACK_SIDE = {"power.drivers", "bootsvc", "rack_worker"}
RACK_CONTRACTS = ("rack-no-region", "rack-no-django")
REGION_APPS = ["nodes", "zones", "power"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_lint_imports_passes():
    result = lint_imports(PROJECT_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_exist():
    assert {*RACK_CONTRACTS, "lab-from-outside", "power-below-nodes-services",
            "core-imports-no-app"} <= set(CONTRACTS)
    assert "maasproject" in CONFIG["root_packages"]


def test_contracts_cover_the_rack_side():
    for contract_id in RACK_CONTRACTS:
        contract = CONTRACTS[contract_id]
        assert contract["type"] == "forbidden"
        assert set(contract["source_modules"]) == RACK_SIDE
        # Forbidden indirectly too (through any chain of imports), with no exception.
        assert not contract.get("allow_indirect_imports", False)
        assert not contract.get("ignore_imports")
    assert {"maasproject", "lab"} <= set(CONTRACTS["rack-no-region"]["forbidden_modules"])
    assert CONTRACTS["rack-no-django"]["forbidden_modules"] == ["django"]


def test_the_lab_drives_the_region_from_outside():
    """lab/ reaches the region through processes and HTTP only (indirect imports included)."""
    contract = CONTRACTS["lab-from-outside"]
    assert contract["source_modules"] == ["lab"]
    assert {"nodes.models", "nodes.services", "zones.models", "power.models",
            "django.db"} <= set(contract["forbidden_modules"])
    assert not contract.get("allow_indirect_imports", False)


def _region_modules() -> set[str]:
    """Every region app whole, except power's rack-side drivers: each other module of power."""
    found = set(REGION_APPS) - {"power"}
    for path in (PROJECT_DIR / "power").iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        is_module = path.suffix == ".py" or (path / "__init__.py").exists()
        if is_module and name not in {"__init__", "drivers"}:
            found.add(f"power.{name}")
    return found


def test_every_region_module_is_forbidden_to_the_rack():
    """When a module appears in power (power/tasks.py, say), it must join the forbidden list."""
    forbidden = set(CONTRACTS["rack-no-region"]["forbidden_modules"])
    existing = _region_modules()
    assert {"nodes", "zones", "power.models", "power.services", "power.secrets"} <= existing
    assert existing <= forbidden, f"add to the contract: {sorted(existing - forbidden)}"


BAD_MODULES = {
    # A direct import of a region model.
    "bootsvc/bad_direct.py": (
        "from nodes.models import Machine\n", "bootsvc.bad_direct -> nodes.models"
    ),
    # An indirect one: a rack module importing a region module that imports the services.
    "rack_worker/bad_indirect.py": (
        "import nodes.tasks\n", "rack_worker.bad_indirect -> nodes.tasks"
    ),
    # The project package, whose import builds the region's Celery app.
    "rack_worker/bad_project.py": (
        "from maasproject.env import generated_secret\n",
        "rack_worker.bad_project -> maasproject.env",
    ),
    # Django's settings from a driver.
    "power/drivers/bad_django.py": (
        "from django.conf import settings\n", "power.drivers.bad_django -> django.conf"
    ),
}


def test_contracts_report_forbidden_imports(tmp_path):
    """A copy of the packages with forbidden imports added breaks both rack contracts."""
    for package in CONFIG["root_packages"]:
        if package == "django":
            continue
        shutil.copytree(
            PROJECT_DIR / package, tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    shutil.copy(PROJECT_DIR / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0, "the clean copy must pass"

    for relative, (source, _line) in BAD_MODULES.items():
        (tmp_path / relative).write_text(source)
    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 broken" in result.stdout, result.stdout
    for _relative, (_source, reported) in BAD_MODULES.items():
        assert reported in result.stdout, result.stdout
    # lint-imports analysed the copy, not the project.
    assert str(PROJECT_DIR) not in result.stdout
