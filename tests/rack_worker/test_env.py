"""The environment every process shares: the broker URL and its folders, start-up settings."""
import json
import logging
import subprocess
import sys

from kombu import Connection

from maasproject.celery import app as region_app
from rack_worker.env import FILESYSTEM_BROKER, broker_transport, broker_transport_options
from tests.processes import PROJECT_DIR

# In a fresh interpreter: importing the rack's Celery app here would make it the current app of
# the test session, and region tasks sent later would go through it.
RACK_CONF = """
import json
from rack_worker.celery_app import app
print(json.dumps([app.conf.broker_connection_retry_on_startup, app.conf.broker_transport]))
"""
RACK_DELIVERY = """
import json
from rack_worker.celery_app import app
c = app.conf
print(json.dumps([c.task_acks_late, c.task_reject_on_worker_lost, c.worker_prefetch_multiplier,
                  c.broker_transport_options]))
"""


def test_the_embedded_broker_url_names_a_host_so_kombu_does_not_warn(caplog):
    connection = Connection(FILESYSTEM_BROKER)
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        connection.info()
    assert connection.hostname
    assert "No hostname" not in caplog.text


def test_any_filesystem_url_gets_the_shared_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_DIR", str(tmp_path / "broker"))
    for url in (FILESYSTEM_BROKER, "filesystem://"):
        options = broker_transport_options(url)
        assert options["data_folder_in"] == str(tmp_path / "broker" / "in")
    assert "data_folder_in" not in broker_transport_options("redis://127.0.0.1:6379/0")


def test_redis_redelivers_a_dead_workers_message_after_one_shared_timeout(monkeypatch):
    monkeypatch.delenv("CELERY_VISIBILITY_TIMEOUT", raising=False)
    assert broker_transport_options("redis://127.0.0.1:6379/0") == {
        "visibility_timeout": 300, "unacked_restore_interval": 10, "unacked_restore_throttle": 1}
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "7")
    assert broker_transport_options("rediss://h:6380/1")["visibility_timeout"] == 7


def test_rack_power_jobs_are_acknowledged_late_and_redelivered_when_the_worker_dies(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path),
           "CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "CELERY_VISIBILITY_TIMEOUT": "42"}
    done = subprocess.run([sys.executable, "-c", RACK_DELIVERY], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    acks_late, reject, prefetch, options = json.loads(done.stdout)
    assert (acks_late, reject, prefetch) == (True, True, 1)
    assert options["visibility_timeout"] == 42


def test_region_and_rack_retry_the_broker_at_start_without_a_warning(tmp_path):
    assert region_app.conf.broker_connection_retry_on_startup is True
    assert region_app.conf.broker_transport == broker_transport(region_app.conf.broker_url)
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RACK_CONF], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    retry, transport = json.loads(done.stdout)
    assert retry is True and transport == "rack_worker.fsbroker:Transport"
