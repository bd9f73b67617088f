"""Settings schema and driver base: field types, defaults, scopes, describe(), secrets."""
import json

import pytest

from power.drivers.base import (
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerError,
    PowerFatalError,
    PowerRetryableError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
    SettingField,
    validate_settings,
)

FIELDS = (
    SettingField("power_address", "Address", required=True),
    SettingField("power_user", "User", default="admin"),
    SettingField("power_pass", "Password", type="password"),
    SettingField(
        "power_driver", "Driver", type="choice", default="LAN_2_0",
        choices=(("LAN", "LAN"), ("LAN_2_0", "LAN 2.0")),
    ),
    SettingField("port", "Port", type="int", default=623, min_value=1, max_value=65535),
    SettingField("verify", "Verify", type="bool", default=False),
    SettingField("mac_address", "MAC", type="mac", scope="node"),
    SettingField("node_id", "Node id", required=True, scope="node"),
)


class Lamp(PowerDriver):
    """A minimal concrete driver for base-class tests."""

    name = "lamp"
    description = "Lamp"
    settings = FIELDS

    @classmethod
    def check_settings(cls, cleaned):
        if cleaned.get("power_user") == "root":
            return {"power_user": ["Not root."]}
        return {}

    def power_on(self, *, netboot=False, efi=False):
        self.calls.append("on")

    def power_off(self, *, mode="hard"):
        self.calls.append(f"off:{mode}")

    calls: list = []


def errors_of(params, **kwargs):
    with pytest.raises(PowerSettingsError) as info:
        validate_settings(FIELDS, params, **kwargs)
    return info.value.errors


def valid(**params):
    base = {"power_address": "10.0.0.1", "node_id": "1"}
    return validate_settings(FIELDS, base | params)


def test_defaults_fill_missing_and_blank_values():
    assert valid() == {
        "power_address": "10.0.0.1", "power_user": "admin", "power_driver": "LAN_2_0",
        "port": 623, "verify": False, "node_id": "1",
    }
    assert valid(power_user="", port=None)["power_user"] == "admin"


def test_required_fields():
    errors = errors_of({})
    assert errors == {
        "power_address": ["This field is required."], "node_id": ["This field is required."]
    }
    assert "power_address" in errors_of({"power_address": "", "node_id": "1"})


def test_unknown_parameters_rejected_with_field_errors():
    errors = errors_of({"power_address": "x", "node_id": "1", "bogus": 1})
    assert errors == {"bogus": ["Unknown parameter."]}


def test_not_an_object():
    assert errors_of(["power_address"]) == {"power_parameters": ["Expected an object."]}


@pytest.mark.parametrize("value", ["text", 12, 1.5])
def test_string_accepts_scalars(value):
    assert valid(power_user=value)["power_user"] == str(value)


@pytest.mark.parametrize("value", [["a"], {"a": 1}, True])
def test_string_rejects_non_scalars(value):
    assert errors_of({"power_address": value, "node_id": "1"}) == {
        "power_address": ["Enter text."]
    }


def test_password_is_a_string_and_always_secret():
    assert valid(power_pass="s3cret")["power_pass"] == "s3cret"
    assert SettingField("p", "P", type="password").secret is True


def test_choice():
    assert valid(power_driver="LAN")["power_driver"] == "LAN"
    errors = errors_of({"power_address": "x", "node_id": "1", "power_driver": "SERIAL"})
    assert errors == {"power_driver": ["Choose one of: LAN, LAN_2_0."]}


@pytest.mark.parametrize(("value", "expected"), [("624", 624), (625, 625), (626.0, 626)])
def test_int_accepts_whole_numbers(value, expected):
    assert valid(port=value)["port"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Enter a whole number."),
        (True, "Enter a whole number."),
        (1.5, "Enter a whole number."),
        (0, "Enter a number of at least 1."),
        (70000, "Enter a number of at most 65535."),
    ],
)
def test_int_rejects(value, message):
    assert errors_of({"power_address": "x", "node_id": "1", "port": value}) == {"port": [message]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("yes", True), ("1", True), ("y", True),
     (False, False), ("false", False), ("no", False), ("0", False), ("n", False)],
)
def test_bool(value, expected):
    assert valid(verify=value)["verify"] is expected


def test_bool_rejects_other_text():
    assert errors_of({"power_address": "x", "node_id": "1", "verify": "maybe"}) == {
        "verify": ["Enter true or false."]
    }


def test_mac_is_validated_and_normalised():
    assert valid(mac_address="52-54-00-AB-CD-EF")["mac_address"] == "52:54:00:ab:cd:ef"
    errors = errors_of({"power_address": "x", "node_id": "1", "mac_address": "52:54:00"})
    assert errors == {"mac_address": ["Enter a MAC address like 52:54:00:12:34:56."]}


def test_error_messages_never_repeat_the_value():
    params = {"power_address": ["hunter2"], "node_id": "1", "port": "hunter2", "hunter2": 1}
    errors = errors_of(params)
    assert "hunter2" not in json.dumps({k: v for k, v in errors.items() if k != "hunter2"})


def test_scope_filtering():
    params = {"power_address": "10.0.0.1", "node_id": "7", "mac_address": "52:54:00:00:00:01"}
    assert validate_settings(FIELDS, params, scope="node") == {
        "node_id": "7", "mac_address": "52:54:00:00:00:01"
    }
    bmc = validate_settings(FIELDS, params, scope="bmc")
    assert "node_id" not in bmc and bmc["power_address"] == "10.0.0.1"
    assert errors_of({"power_address": "x"}, scope="node") == {
        "node_id": ["This field is required."]
    }
    assert errors_of({"node_id": "1", "nope": 1}, scope="node") == {"nope": ["Unknown parameter."]}


@pytest.mark.parametrize(
    "kwargs",
    [{"type": "float"}, {"scope": "rack"}, {"type": "choice"}],
)
def test_bad_field_definitions(kwargs):
    with pytest.raises(ValueError):
        SettingField("f", "F", **kwargs)


def test_driver_validates_on_construction_with_cross_field_checks():
    driver = Lamp({"power_address": "10.0.0.1", "node_id": "1"})
    assert driver.params["port"] == 623
    with pytest.raises(PowerSettingsError) as info:
        Lamp({"power_address": "10.0.0.1", "node_id": "1", "power_user": "root"})
    assert info.value.errors == {"power_user": ["Not root."]}
    assert Lamp.validate_settings({"node_id": "2"}, scope="node") == {"node_id": "2"}


def test_describe_is_json_serialisable_with_every_field():
    described = json.loads(json.dumps(Lamp.describe()))
    assert set(described) == {"name", "description", "queryable", "can_set_boot_device", "fields"}
    assert described["name"] == "lamp" and described["queryable"] is True
    assert described["can_set_boot_device"] is False
    assert [f["name"] for f in described["fields"]] == [f.name for f in FIELDS]
    driver_field = described["fields"][3]
    assert driver_field == {
        "name": "power_driver", "label": "Driver", "type": "choice", "required": False,
        "default": "LAN_2_0", "choices": [["LAN", "LAN"], ["LAN_2_0", "LAN 2.0"]],
        "secret": False, "scope": "bmc", "min_value": None, "max_value": None,
    }


def test_secret_fields():
    assert Lamp.secret_fields() == frozenset({"power_pass"})


def test_default_cycle_query_and_boot_device():
    driver = Lamp({"power_address": "10.0.0.1", "node_id": "1"})
    driver.calls = []
    driver.power_cycle()
    assert driver.calls == ["off:hard", "on"]
    with pytest.raises(PowerUnsupportedError, match="cannot query"):
        driver.power_query()
    with pytest.raises(PowerUnsupportedError, match="boot device"):
        driver.set_boot_device("pxe")


def test_error_hierarchy():
    for fatal in (PowerAuthError, PowerUnsupportedError, PowerFatalError):
        assert issubclass(fatal, PowerError) and not fatal.retryable
    for transient in (PowerConnectionError, PowerTimeoutError, PowerRetryableError):
        assert issubclass(transient, PowerError) and transient.retryable
    error = PowerSettingsError({"b": ["Two."], "a": ["One."]})
    assert not error.retryable and str(error) == "a: One.; b: Two."
