"""The import-linter contracts: rack-side code never imports region models, services or django.db;
neither does the lab (lab/), which drives the region through processes and HTTP.

Checks that `lint-imports` passes on the tree, that the contracts catch forbidden imports (a copy
of the packages with bad modules added), and that the contract lists every region models and
services package that exists.
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


def test_contracts_cover_the_rack_side():
    for contract in (CONTRACTS["rack-no-region-models"], CONTRACTS["rack-no-database"]):
        assert contract["type"] == "forbidden"
        assert set(contract["source_modules"]) == RACK_SIDE
    assert "django.db" in CONTRACTS["rack-no-database"]["forbidden_modules"]
    # Region models and services are forbidden indirectly too (through any chain of imports).
    assert not CONTRACTS["rack-no-region-models"].get("allow_indirect_imports", False)
    assert not CONTRACTS["rack-no-region-models"].get("ignore_imports")


def test_the_lab_drives_the_region_from_outside():
    """lab/ reaches the region through processes and HTTP only (indirect imports included)."""
    contract = CONTRACTS["lab-from-outside"]
    assert contract["source_modules"] == ["lab"]
    assert set(CONTRACTS["rack-no-region-models"]["forbidden_modules"]) | {"django.db"} == set(
        contract["forbidden_modules"])
    assert not contract.get("allow_indirect_imports", False)


def test_every_region_models_and_services_package_is_forbidden():
    """When power/models or power/services appears, it must join the forbidden list."""
    forbidden = set(CONTRACTS["rack-no-region-models"]["forbidden_modules"])
    existing = {
        f"{app}.{layer}"
        for app in REGION_APPS
        for layer in ("models", "services")
        if (PROJECT_DIR / app / layer / "__init__.py").exists()
        or (PROJECT_DIR / app / f"{layer}.py").exists()
    }
    assert {"nodes.models", "nodes.services", "zones.models"} <= existing
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
    # Opening the database from a driver.
    "power/drivers/bad_db.py": (
        "from django.db import connection\n", "power.drivers.bad_db -> django.db"
    ),
}


def test_contracts_report_forbidden_imports(tmp_path):
    """A copy of the packages with forbidden imports added breaks both contracts."""
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
