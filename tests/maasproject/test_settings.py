"""Settings come from the environment; with none, everything runs embedded under VAR_DIR.

Each case loads the settings in a fresh interpreter with a controlled environment, since
settings are read once at import.
"""
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]

_DUMP = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "conn_max_age": db.get("CONN_MAX_AGE"), "test_name": db.get("TEST", {}).get("NAME"),
    "secret_key": settings.SECRET_KEY, "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS, "var_dir": str(settings.VAR_DIR),
    "broker": settings.CELERY_BROKER_URL,
    "transport_options": getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "status_timeout": settings.MACHINE_STATUS_TIMEOUT,
    "releasing_timeout": settings.MACHINE_RELEASING_TIMEOUT,
    "check_interval": settings.DEADLINE_CHECK_INTERVAL,
    "poll": [settings.POWER_POLL_INTERVAL, settings.POWER_POLL_TICK],
    "power_results": [settings.POWER_RESULT_TIMEOUT, settings.POWER_RESULT_ATTEMPTS,
                      settings.POWER_RESULT_CHECK_INTERVAL],
    "log_level": settings.LOGGING["root"]["level"],
    "static_root": str(settings.STATIC_ROOT),
    "metadata": [settings.METADATA_MAX_OUTPUT, settings.METADATA_HEARTBEAT_INTERVAL,
                 settings.METADATA_HEARTBEAT_TIMEOUT, settings.ENLIST_COMMISSION,
                 settings.DEPLOY_RETRY_WAIT, settings.PXE_BOOT_RETRIES,
                 settings.METADATA_TOKEN_SOURCES, settings.MACHINE_BOOT_TIMEOUT],
    "region_url": settings.REGION_URL, "boot_resources_dir": settings.BOOT_RESOURCES_DIR,
    "region_urls": settings.REGION_URLS,
    "racks": [settings.RACK_DEAD_AFTER, settings.RACK_STATUS_INTERVAL,
              settings.RACK_REGISTER_FAILURES],
    "cache": settings.CACHES["default"],
    "dhcp": [settings.DHCP_LEASE_TIME, settings.DHCP_ENLIST_LEASE_TIME],
    "power_secrets_key": settings.POWER_SECRETS_KEY,
    "imports": [settings.BOOT_IMPORT_KERNEL_FLAVOUR, settings.SSH_KEYS_IMPORT_URLS,
                settings.SSH_KEYS_IMPORT_TIMEOUT],
}))
"""

# Every variable the settings read; cleared so that the outer environment does not leak in.
ENV_VARS = [
    "VAR_DIR", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "DATABASE_CONN_MAX_AGE",
    "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "MACHINE_STATUS_TIMEOUT",
    "MACHINE_RELEASING_TIMEOUT", "DEADLINE_CHECK_INTERVAL", "POWER_POLL_INTERVAL",
    "POWER_POLL_TICK", "LOG_LEVEL", "CI", "METADATA_MAX_OUTPUT", "METADATA_HEARTBEAT_INTERVAL",
    "METADATA_HEARTBEAT_TIMEOUT", "ENLIST_COMMISSION", "CELERY_BROKER_DIR", "DEPLOY_RETRY_WAIT",
    "PXE_BOOT_RETRIES", "REGION_URL", "BOOT_RESOURCES_DIR", "RACK_DEAD_AFTER",
    "RACK_STATUS_INTERVAL", "DHCP_LEASE_TIME", "DHCP_ENLIST_LEASE_TIME", "POWER_SECRETS_KEY",
    "RACK_REGISTER_FAILURES", "METADATA_TOKEN_SOURCES", "WEB_LOG_LEVEL",
    "CELERY_VISIBILITY_TIMEOUT", "POWER_RESULT_TIMEOUT", "POWER_RESULT_ATTEMPTS",
    "POWER_RESULT_CHECK_INTERVAL", "MACHINE_BOOT_TIMEOUT", "BOOT_IMPORT_KERNEL_FLAVOUR",
    "SSH_KEYS_IMPORT_LP_URL", "SSH_KEYS_IMPORT_GH_URL", "SSH_KEYS_IMPORT_TIMEOUT",
    "REGION_LISTENER", "REGION_PORT", "REGION_URLS", "REDIS_SENTINEL_MASTER", "METRICS_TOKEN",
]


def load_settings(module: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    out = subprocess.run(
        [sys.executable, "-c", _DUMP], cwd=PROJECT_DIR, env=clean, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_defaults(tmp_path):
    var = tmp_path / "var"
    s = load_settings("maasproject.settings", VAR_DIR=str(var))
    assert s["var_dir"] == str(var) and var.is_dir()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(var / "maas.sqlite3")
    assert s["conn_max_age"] == 60
    assert s["broker"] == "filesystem://localhost/"
    # The broker's queues and exchange tables stay under VAR_DIR: without control_folder kombu
    # writes its exchange tables to ./control in whatever the working directory is.
    for key in ("data_folder_in", "data_folder_out", "data_folder_processed", "control_folder"):
        assert s["transport_options"][key].startswith(str(var / "broker")), key
        assert Path(s["transport_options"][key]).is_dir()
    assert s["eager"] is False
    assert s["debug"] is False
    assert s["allowed_hosts"] == ["*"]
    assert (s["status_timeout"], s["releasing_timeout"]) == (1800, 300)
    assert s["check_interval"] == 60
    assert s["poll"] == [300, 10]
    assert s["power_results"] == [180, 3, 30]
    assert s["log_level"] == "INFO"
    assert s["static_root"] == str(var / "static")
    assert s["metadata"] == [4 * 1024 * 1024, 30, 300, True, 10, 2, "leases", 900]
    assert s["region_url"] == "" and s["boot_resources_dir"] == str(var / "boot-resources")
    assert s["region_urls"] == []
    assert s["racks"] == [30, 10, 10] and s["dhcp"] == [600, 120]
    assert s["cache"] == {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(var / "cache")}
    assert s["power_secrets_key"] == ""
    # The secret key is generated once into var/secret_key (0600) and reused.
    key_file = var / "secret_key"
    assert key_file.read_text().strip() == s["secret_key"] and len(s["secret_key"]) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings("maasproject.settings", VAR_DIR=str(var))["secret_key"] == s["secret_key"]


def test_environment_overrides(tmp_path):
    s = load_settings(
        "maasproject.settings",
        VAR_DIR=str(tmp_path),
        SECRET_KEY="s3cret",
        DEBUG="true",
        ALLOWED_HOSTS="region.example,10.0.0.2",
        DATABASE_URL="postgres://maas:pw@db.example:5433/regiondb",
        DATABASE_CONN_MAX_AGE="0",
        CELERY_BROKER_URL="redis://cache.example:6379/3",
        CELERY_TASK_ALWAYS_EAGER="1",
        MACHINE_STATUS_TIMEOUT="600",
        MACHINE_RELEASING_TIMEOUT="90",
        DEADLINE_CHECK_INTERVAL="7.5",
        POWER_POLL_INTERVAL="120",
        POWER_POLL_TICK="5",
        LOG_LEVEL="DEBUG",
        METADATA_MAX_OUTPUT="1024",
        METADATA_HEARTBEAT_INTERVAL="5",
        METADATA_TOKEN_SOURCES="any",
        METADATA_HEARTBEAT_TIMEOUT="60",
        ENLIST_COMMISSION="false",
        DEPLOY_RETRY_WAIT="2",
        PXE_BOOT_RETRIES="5",
        REGION_URL="http://10.0.0.2:5240/",
        REGION_URLS=" http://10.0.0.2:5240/ ,,http://10.0.0.3:5240/",
        BOOT_RESOURCES_DIR="/srv/boot",
        RACK_DEAD_AFTER="12",
        RACK_STATUS_INTERVAL="3",
        RACK_REGISTER_FAILURES="4",
        DHCP_LEASE_TIME="3600",
        DHCP_ENLIST_LEASE_TIME="60",
        POWER_SECRETS_KEY="k",
        CELERY_VISIBILITY_TIMEOUT="45",
        POWER_RESULT_TIMEOUT="40",
        POWER_RESULT_ATTEMPTS="5",
        POWER_RESULT_CHECK_INTERVAL="4.5",
        MACHINE_BOOT_TIMEOUT="420",
        BOOT_IMPORT_KERNEL_FLAVOUR="cloud",
        SSH_KEYS_IMPORT_LP_URL="http://mirror.example/lp/{user}",
        SSH_KEYS_IMPORT_GH_URL="http://mirror.example/gh/{user}",
        SSH_KEYS_IMPORT_TIMEOUT="2.5",
    )
    assert s["secret_key"] == "s3cret"
    assert not (tmp_path / "secret_key").exists()
    assert s["debug"] is True
    assert s["allowed_hosts"] == ["region.example", "10.0.0.2"]
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["name"], s["host"], s["conn_max_age"]) == ("regiondb", "db.example", 0)
    assert s["broker"] == "redis://cache.example:6379/3"
    assert s["transport_options"] == {"visibility_timeout": 45, "unacked_restore_interval": 10,
                                      "unacked_restore_throttle": 1}
    assert s["eager"] is True
    assert (s["status_timeout"], s["releasing_timeout"], s["check_interval"]) == (600, 90, 7.5)
    assert s["poll"] == [120, 5]
    assert s["power_results"] == [40, 5, 4.5]
    assert s["log_level"] == "DEBUG"
    assert s["metadata"] == [1024, 5, 60, False, 2, 5, "any", 420]
    assert s["region_url"] == "http://10.0.0.2:5240/" and s["boot_resources_dir"] == "/srv/boot"
    assert s["region_urls"] == ["http://10.0.0.2:5240/", "http://10.0.0.3:5240/"]
    assert s["racks"] == [12, 3, 4] and s["dhcp"] == [3600, 60]
    assert s["cache"] == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": "redis://cache.example:6379/3"}
    assert s["power_secrets_key"] == "k"
    assert s["imports"] == ["cloud", {"lp": "http://mirror.example/lp/{user}",
                                      "gh": "http://mirror.example/gh/{user}"}, 2.5]


def test_filesystem_broker_folder_can_be_shared(tmp_path):
    """CELERY_BROKER_DIR: a process with its own VAR_DIR (a lab rack) uses the region's queues."""
    shared = tmp_path / "region-var" / "broker"
    s = load_settings("maasproject.settings", VAR_DIR=str(tmp_path / "rack-var"),
                      CELERY_BROKER_DIR=str(shared))
    for key in ("data_folder_in", "data_folder_out", "data_folder_processed", "control_folder"):
        assert s["transport_options"][key].startswith(str(shared)), key
    assert not (tmp_path / "rack-var" / "broker").exists()


def test_test_settings_use_a_sqlite_file_outside_ci(tmp_path):
    s = load_settings("maasproject.settings.test", VAR_DIR=str(tmp_path))
    assert s["engine"] == "django.db.backends.sqlite3"
    # A file, so that worker subprocesses in integration tests share the test database.
    assert s["test_name"] == str(tmp_path / "test.sqlite3")
    assert s["broker"] == "filesystem://localhost/"


def test_test_settings_default_to_postgres_and_redis_in_ci(tmp_path):
    s = load_settings("maasproject.settings.test", VAR_DIR=str(tmp_path), CI="true")
    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["name"], s["host"]) == ("maas", "127.0.0.1")
    assert s["broker"] == "redis://127.0.0.1:6379/15"
    explicit = load_settings(
        "maasproject.settings.test", VAR_DIR=str(tmp_path), CI="true",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/other", CELERY_BROKER_URL="memory://",
    )
    assert explicit["name"] == "other" and explicit["broker"] == "memory://"


def _variables_read_in(package: Path, files: str = "*.py") -> set[str]:
    pattern = re.compile(
        r"""(?:os\.environ\.get|os\.environ\.setdefault|os\.getenv|env_bool)\(\s*["']([A-Z0-9_]+)"""
        r"""|os\.environ\[\s*["']([A-Z0-9_]+)"""
    )
    found = set()
    for path in package.rglob(files):
        for match in pattern.finditer(path.read_text()):
            found.add(match.group(1) or match.group(2))
    return found


@pytest.mark.parametrize("package", ["maasproject", "nodes", "zones", "power", "bootsvc",
                                     "rack_worker", "lab"])
def test_readme_documents_every_environment_variable(package):
    """README's configuration reference names every variable the code reads."""
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("## Configuration reference", 1)
    assert len(section) == 2, "README.md has no '## Configuration reference' section"
    documented = set(re.findall(r"^\|\s*`([A-Z0-9_]+)`", section[1], flags=re.MULTILINE))
    read = _variables_read_in(PROJECT_DIR / package) - {"DJANGO_SETTINGS_MODULE"}
    assert read <= documented, f"undocumented: {sorted(read - documented)}"


def test_settings_tests_cover_every_variable():
    # The settings read var/ and the broker through rack_worker/env.py, shared with the racks.
    read = _variables_read_in(PROJECT_DIR / "maasproject") | _variables_read_in(
        PROJECT_DIR / "rack_worker", "env.py")
    assert {"VAR_DIR", "CELERY_BROKER_URL"} <= read
    assert read - {"DJANGO_SETTINGS_MODULE"} <= set(ENV_VARS)
