"""Driver registry: names, rejection of bad or duplicate drivers, entry-point plugins."""
import logging

import pytest

from power.drivers import registry as registry_module
from power.drivers.base import PowerDriver, PowerSettingsError, SettingField
from power.drivers.fake import FakeDriver
from power.drivers.manual import ManualDriver
from power.drivers.registry import (
    ENTRY_POINT_GROUP,
    DriverRegistry,
    DuplicateDriverError,
    get_registry,
)
from power.drivers.webhook import WebhookDriver


class OtherManual(ManualDriver):
    """Same name as the built-in manual driver."""


class Abstract(PowerDriver):
    """Does not implement power_on/power_off."""

    name = "abstract"
    description = "Abstract"


def concrete(**attrs):
    return type("Custom", (ManualDriver,), attrs)


@pytest.fixture
def registry():
    reg = DriverRegistry()
    for driver in (ManualDriver, FakeDriver, WebhookDriver):
        reg.register(driver)
    return reg


def test_names_get_and_all(registry):
    assert registry.names() == ["fake", "manual", "webhook"]
    assert registry.get("webhook") is WebhookDriver
    assert registry.all() == [FakeDriver, ManualDriver, WebhookDriver]
    assert "fake" in registry and "ipmi" not in registry


def test_register_is_a_decorator_and_idempotent(registry):
    assert registry.register(ManualDriver) is ManualDriver
    assert registry.names() == ["fake", "manual", "webhook"]


def test_duplicate_names_rejected(registry):
    with pytest.raises(DuplicateDriverError, match="'manual' is taken by power.drivers.manual"):
        registry.register(OtherManual)
    assert registry.get("manual") is ManualDriver


@pytest.mark.parametrize(
    "candidate",
    [
        object,
        "power.drivers.manual:ManualDriver",
        ManualDriver(params={}),
        Abstract,
        concrete(name="Bad Name"),
        concrete(name=""),
        concrete(description=None),
        concrete(settings=[SettingField("a", "A")]),
        concrete(settings=(SettingField("a", "A"), SettingField("a", "A again"))),
        concrete(settings=("a",)),
    ],
)
def test_non_drivers_rejected(registry, candidate):
    with pytest.raises(TypeError):
        registry.register(candidate)
    assert registry.names() == ["fake", "manual", "webhook"]


@pytest.mark.parametrize("name", ["nope", None, ["manual"]])
def test_unknown_power_type_is_a_field_error(registry, name):
    with pytest.raises(PowerSettingsError) as info:
        registry.get(name)
    assert list(info.value.errors) == ["power_type"]
    assert "fake, manual, webhook" in info.value.errors["power_type"][0]


def test_every_builtin_here_describes_itself(registry):
    for driver in registry.all():
        described = driver.describe()
        assert described["name"] == driver.name
        assert {f["name"] for f in described["fields"]} == {f.name for f in driver.settings}


def test_installed_plugin_loads_and_the_clash_is_refused(registry, caplog):
    """The metal-power-example package (requirements-dev.txt) declares a good and a clash."""
    with caplog.at_level(logging.ERROR, logger="power.drivers.registry"):
        loaded = registry.load_entry_points()
        assert not caplog.text
        clashing = registry.load_entry_points(group="metal.power_drivers.clash_test")
    assert loaded == ["example"] and clashing == []
    example = registry.get("example")
    assert example.__module__ == "metal_power_example"
    assert registry.get("manual") is ManualDriver
    assert "metal_power_example:ClashingDriver was not loaded" in caplog.text
    assert "'manual' is taken" in caplog.text


def test_plugin_driver_works(registry):
    registry.load_entry_points()
    lamp = registry.get("example")({"lamp": "desk"})
    lamp.power_on()
    assert lamp.power_query() == "on"
    lamp.power_off()
    assert lamp.power_query() == "off"
    with pytest.raises(PowerSettingsError, match="lamp"):
        registry.get("example")({})


def test_broken_plugin_is_logged_and_skipped(registry, caplog, monkeypatch):
    class BrokenEntryPoint:
        name, value = "broken", "nowhere:Driver"

        def load(self):
            raise ImportError("No module named 'nowhere'")

    monkeypatch.setattr(registry_module, "entry_points", lambda group: [BrokenEntryPoint()])
    with caplog.at_level(logging.ERROR, logger="power.drivers.registry"):
        assert registry.load_entry_points() == []
    assert "nowhere:Driver failed to import" in caplog.text
    assert registry.names() == ["fake", "manual", "webhook"]


def test_entry_point_group_name():
    assert ENTRY_POINT_GROUP == "metal.power_drivers"


def test_process_registry_has_builtins_and_plugin():
    get_registry.cache_clear()
    try:
        reg = get_registry()
        assert {"manual", "fake", "ipmi", "redfish", "webhook", "example"} <= set(reg.names())
        assert reg.get("manual") is ManualDriver
        assert get_registry() is reg
    finally:
        get_registry.cache_clear()
