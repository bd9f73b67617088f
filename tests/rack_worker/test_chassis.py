"""The rack's chassis discovery task: what it reports when it cannot open or run a request."""
from cryptography.fernet import Fernet

from rack_worker.celery_app import app
from rack_worker.chassis import discover_chassis, scrub
from rack_worker.client import CHASSIS_RESULT_TASK, CHASSIS_TASK
from rack_worker.sealing import seal

REQUEST = {"request_id": "r1", "chassis_type": "redfish", "hostname": "10.0.0.9",
           "context": {"zone": "z"}, "secret_fields": ["power_pass"],
           "params": {"power_address": "10.0.0.9", "power_user": "u", "power_pass": "Pw-123"}}


def run(monkeypatch, request: dict) -> list[tuple[str, dict, str]]:
    reports = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs=None, queue=None, **options:
                        reports.append((name, kwargs, queue)))
    discover_chassis.apply(args=[request])
    return reports


def test_the_task_is_registered_with_the_rack_app():
    assert CHASSIS_TASK in app.tasks


def test_a_request_sealed_for_another_rack_is_reported_not_dropped(monkeypatch, tmp_path):
    monkeypatch.setenv("RACK_CREDENTIALS", str(tmp_path / "none.json"))
    [(name, kwargs, queue)] = run(monkeypatch, seal(REQUEST, Fernet.generate_key().decode()))
    assert (name, queue) == (CHASSIS_RESULT_TASK, "region")
    assert kwargs["kind"] == "PowerKeyError" and kwargs["context"] == {"zone": "z"}


def test_an_unknown_chassis_type_is_fatal_and_reported(monkeypatch):
    [(_, kwargs, _)] = run(monkeypatch, {**REQUEST, "chassis_type": "nope"})
    assert kwargs["kind"] == "PowerSettingsError" and kwargs["attempts"] == 1
    assert "params" not in kwargs and "Pw-123" not in str(kwargs)


def test_scrub_removes_secret_values():
    assert scrub("login Pw-123 refused", REQUEST) == "login ******** refused"
