"""Helpers of the chassis tests: a 4-system Redfish emulator, a healthy rack and its key, and
the rack's discovery task run in this process on a message the region sent."""
import json
from contextlib import contextmanager

from nodes.services.chassis import chassis_outcome_record
from rack_worker.celery_app import app as rack_app
from rack_worker.chassis import discover_chassis
from rack_worker.client import CHASSIS_TASK
from tests.factories import RackControllerFactory
from tests.power.test_redfish_driver import PASSWORD, USER, Emulator
from zones.rackkeys import rack_power_key

__all__ = ["PASSWORD", "USER", "Emulator", "chassis_messages", "make_chassis_rack", "record",
           "run_on_rack", "sushy"]


@contextmanager
def sushy(systems: int = 4):
    """sushy-tools with `systems` systems (node1.., one NIC each, all off)."""
    emulator = Emulator("--systems", str(systems))
    try:
        yield emulator
    finally:
        emulator.stop()


def make_chassis_rack(tmp_path, monkeypatch, name: str = "chassis-rack"):
    """A running rack; this process opens what is sealed for it, as its worker would."""
    rack = RackControllerFactory(name=name, status="running")
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps(
        {"power_key": rack_power_key(rack.system_id, rack.token_hash)}))
    monkeypatch.setenv("RACK_CREDENTIALS", str(credentials))
    return rack


def chassis_messages(sent: list[dict]) -> list[dict]:
    return [message for message in sent if message["name"] == CHASSIS_TASK]


def run_on_rack(message: dict, monkeypatch, *, retries: int = 0) -> dict:
    """Run the rack's discovery task here on a sent message; return what it reported to the
    region (one attempt: `retries` says how many came before it)."""
    reports = []
    monkeypatch.setattr(rack_app, "send_task",
                        lambda name, kwargs=None, **options: reports.append(kwargs))
    discover_chassis.apply(args=message["args"], retries=retries)
    assert len(reports) == 1, reports
    return reports[0]


def record(report: dict) -> list[str]:
    """The region task's work on a rack's report."""
    return chassis_outcome_record(**report)
