"""Manual and fake drivers: no-op manual power, in-memory fake machines, scripted failures."""
import json
import subprocess
import sys
import threading
import time

import pytest

from power.drivers.base import (
    PowerAuthError,
    PowerConnectionError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
)
from power.drivers.fake import FakeDriver, get_fake_machine, reset_fake_machines
from power.drivers.manual import ManualDriver


@pytest.fixture(autouse=True)
def _clean_fakes():
    reset_fake_machines()
    yield
    reset_fake_machines()


def fake(**params):
    return FakeDriver({"fake_id": "m1"} | params)


def test_manual_does_nothing_and_cannot_query():
    driver = ManualDriver({})
    assert driver.power_on(netboot=True) is None
    assert driver.power_off(mode="soft") is None
    driver.power_cycle()
    with pytest.raises(PowerUnsupportedError):
        driver.power_query()
    with pytest.raises(PowerUnsupportedError):
        driver.set_boot_device("pxe")
    assert ManualDriver.describe()["queryable"] is False
    assert ManualDriver.describe()["fields"] == []


def test_manual_has_no_settings():
    with pytest.raises(PowerSettingsError) as info:
        ManualDriver({"power_address": "10.0.0.1"})
    assert info.value.errors == {"power_address": ["Unknown parameter."]}


def test_fake_defaults_and_schema():
    assert FakeDriver({}).params == {
        "fake_id": "default", "fail_with": "none", "fail_count": 0, "delay": 0
    }
    described = json.loads(json.dumps(FakeDriver.describe()))
    assert described["queryable"] is True and described["can_set_boot_device"] is True
    assert FakeDriver.secret_fields() == frozenset()


def test_fake_power_state_round_trip():
    driver = fake()
    assert driver.power_query() == "off"
    driver.power_on()
    assert driver.power_query() == "on"
    driver.power_off(mode="soft")
    assert driver.power_query() == "off"
    assert get_fake_machine("m1").calls == [
        "power_query", "power_on", "power_query", "power_off:soft", "power_query"
    ]


def test_fake_state_is_shared_per_id_and_separate_between_ids():
    fake().power_on()
    assert FakeDriver({"fake_id": "m1"}).power_query() == "on"
    assert FakeDriver({"fake_id": "m2"}).power_query() == "off"


def test_fake_netboot_sets_one_time_pxe():
    fake().power_on(netboot=True, efi=True)
    machine = get_fake_machine("m1")
    assert (machine.power_state, machine.boot_device) == ("on", "pxe")
    assert machine.boot_persistent is False and machine.efi is True


def test_fake_cycle_and_boot_device():
    driver = fake()
    driver.set_boot_device("disk", persistent=True)
    driver.power_cycle()
    machine = get_fake_machine("m1")
    assert machine.power_state == "on" and machine.boot_device == "disk"
    assert machine.calls == ["set_boot_device:disk", "power_off:hard", "power_on"]
    with pytest.raises(PowerUnsupportedError):
        driver.set_boot_device("floppy")
    with pytest.raises(PowerSettingsError):
        driver.power_off(mode="gentle")


@pytest.mark.parametrize(
    ("fail_with", "error", "retryable"),
    [
        ("auth", PowerAuthError, False),
        ("connection", PowerConnectionError, True),
        ("timeout", PowerTimeoutError, True),
        ("unsupported", PowerUnsupportedError, False),
    ],
)
def test_fake_fails_as_asked(fail_with, error, retryable):
    driver = fake(fail_with=fail_with)
    for operation in (driver.power_on, driver.power_off, driver.power_query):
        with pytest.raises(error) as info:
            operation()
        assert info.value.retryable is retryable
    machine = get_fake_machine("m1")
    assert machine.power_state == "off" and machine.failures == 3


def test_fake_fails_only_the_first_n_operations():
    """What a retry test needs: two connection errors, then success."""
    driver = fake(fail_with="connection", fail_count="2")
    for _ in range(2):
        with pytest.raises(PowerConnectionError):
            driver.power_on()
    driver.power_on()
    assert driver.power_query() == "on"
    assert get_fake_machine("m1").calls == ["power_on"] * 3 + ["power_query"]


def test_fake_delay_in_milliseconds():
    driver = fake(delay=50)
    started = time.monotonic()
    driver.power_on()
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fail_with": "explode"}, "fail_with"),
        ({"delay": -1}, "delay"),
        ({"delay": 60_001}, "delay"),
        ({"fail_count": "x"}, "fail_count"),
    ],
)
def test_fake_settings_validated(params, field):
    with pytest.raises(PowerSettingsError) as info:
        fake(**params)
    assert list(info.value.errors) == [field]


def test_fake_is_thread_safe():
    drivers = [fake(fail_with="connection", fail_count=50) for _ in range(4)]

    def hammer(driver):
        for _ in range(25):
            try:
                driver.power_on()
            except PowerConnectionError:
                pass

    threads = [threading.Thread(target=hammer, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    machine = get_fake_machine("m1")
    assert machine.failures == 50 and len(machine.calls) == 100
    assert machine.power_state == "on"


def test_fake_state_is_shared_between_processes_through_the_state_dir(tmp_path, monkeypatch):
    """A rack worker's processes see one fake machine (FAKE_POWER_STATE_DIR)."""
    monkeypatch.setenv("FAKE_POWER_STATE_DIR", str(tmp_path))
    FakeDriver({"fake_id": "shared-1"}).power_on(netboot=True)
    code = ("from power.drivers.fake import FakeDriver; "
            "print(FakeDriver({'fake_id': 'shared-1'}).power_query())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert other.stdout.strip() == "on"
    FakeDriver({"fake_id": "shared-1"}).power_off()
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert other.stdout.strip() == "off"
