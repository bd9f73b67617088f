"""The IPMI driver against our virtual BMC over real UDP on 127.0.0.1."""
from __future__ import annotations

import multiprocessing
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from pyghmi.exceptions import IpmiException

from lab.vbmc.server import free_udp_port
from power.drivers.base import (
    PowerAuthError,
    PowerConnectionError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
)
from power.drivers.ipmi import IPMIDriver, map_error
from tests.vbmc.conftest import PASSWORD, USER, require_tool

SUITES = pytest.mark.parametrize("suite", ["3", "17"])


def test_schema_describes_maas_settings():
    fields = {f["name"]: f for f in IPMIDriver.describe()["fields"]}
    assert fields["power_address"]["required"]
    assert fields["power_port"]["default"] == 623
    assert fields["power_pass"]["secret"] and fields["power_pass"]["type"] == "password"
    assert fields["cipher_suite"]["default"] == "3"
    assert {"3", "17"} <= {key for key, _ in fields["cipher_suite"]["choices"]}
    assert fields["privilege_level"]["default"] == "OPERATOR"
    assert [k for k, _ in fields["power_boot_type"]["choices"]] == ["auto", "efi", "legacy"]
    assert fields["mac_address"]["scope"] == "node"
    assert IPMIDriver.secret_fields() == {"power_pass"}


def test_settings_are_validated():
    with pytest.raises(PowerSettingsError) as caught:
        IPMIDriver({"power_port": "x", "cipher_suite": "99"})
    assert set(caught.value.errors) == {"power_address", "power_port", "cipher_suite"}


@pytest.mark.parametrize("port", [-1, 0, 65536, "70000"])
def test_power_port_is_1_to_65535(port):
    with pytest.raises(PowerSettingsError) as caught:
        IPMIDriver.validate_settings({"power_address": "10.0.0.9", "power_port": port})
    assert list(caught.value.errors) == ["power_port"]
    for port in (1, 65535):
        assert IPMIDriver.validate_settings({"power_address": "h", "power_port": port})


@SUITES
def test_power_on_off_query_with_cipher_suite(vbmc, ipmi_params, suite):
    driver = IPMIDriver(ipmi_params(vbmc.port, cipher_suite=suite))
    assert driver.power_query() == "off"
    driver.power_on()
    assert driver.power_query() == "on"
    driver.power_off(mode="soft")
    assert driver.power_query() == "off"
    driver.power_on()
    driver.power_off(mode="hard")
    assert driver.power_query() == "off"
    assert vbmc.state()["events"] == ["on", "soft", "on", "off"]


def test_netboot_sets_one_time_pxe_then_powers_on(vbmc, ipmi_params):
    driver = IPMIDriver(ipmi_params(vbmc.port, power_boot_type="efi"))
    driver.power_on(netboot=True)
    state = vbmc.state()
    assert state["power"] == "on"
    assert state["boots"] == [{"device": "pxe", "persistent": False, "efi": True}]
    assert state["boot"]["device"] == "default"  # the one-time override was used up


def test_power_on_does_not_cycle_a_running_host(vbmc_factory, ipmi_params):
    vbmc = vbmc_factory([{"power": "on"}])
    driver = IPMIDriver(ipmi_params(vbmc.port, power_boot_type="legacy"))
    driver.power_on(netboot=True, efi=True)
    state = vbmc.state()
    assert state["events"] == [] and state["boots"] == []
    assert state["boot"] == {"device": "pxe", "persistent": False, "efi": False}


def test_power_cycle(vbmc_factory, ipmi_params):
    vbmc = vbmc_factory([{"power": "on"}, {"power": "off"}])
    IPMIDriver(ipmi_params(vbmc.ports[0])).power_cycle(netboot=True)
    IPMIDriver(ipmi_params(vbmc.ports[1])).power_cycle()
    assert vbmc.state(0)["events"] == ["cycle"]
    assert vbmc.state(0)["boots"][0]["device"] == "pxe"
    assert vbmc.state(1)["events"] == ["on"] and vbmc.state(1)["power"] == "on"


@pytest.mark.parametrize("persistent", [False, True])
def test_set_boot_device(vbmc, ipmi_params, persistent):
    driver = IPMIDriver(ipmi_params(vbmc.port))
    driver.set_boot_device("disk", persistent=persistent, efi=True)
    assert vbmc.state()["boot"] == {"device": "disk", "persistent": persistent, "efi": True}
    with pytest.raises(PowerSettingsError):
        driver.set_boot_device("floppy")


def test_wrong_password_is_a_fast_fatal_auth_error(vbmc, ipmi_params):
    driver = IPMIDriver(ipmi_params(vbmc.port, power_pass="wrong"))
    started = time.monotonic()
    with pytest.raises(PowerAuthError) as caught:
        driver.power_on()
    assert time.monotonic() - started < 3
    assert not caught.value.retryable
    assert vbmc.state()["events"] == []


def test_unknown_user_is_an_auth_error(vbmc, ipmi_params):
    with pytest.raises(PowerAuthError):
        IPMIDriver(ipmi_params(vbmc.port, power_user="nobody")).power_query()


def test_unreachable_port_is_retryable_within_seconds(ipmi_params):
    driver = IPMIDriver(ipmi_params(free_udp_port()))
    started = time.monotonic()
    with pytest.raises((PowerTimeoutError, PowerConnectionError)) as caught:
        driver.power_query()
    assert time.monotonic() - started < 9
    assert caught.value.retryable


def _query(params: dict) -> str:
    return IPMIDriver(params).power_query()


def test_many_bmcs_in_one_process(vbmc_factory, ipmi_params):
    """50 BMCs in one vBMC process answer 8 concurrent clients.

    The clients are processes, as in the rack worker's default prefork pool: pyghmi keeps
    process-wide session state, which earlier tests in this process would share.
    """
    vbmc = vbmc_factory([{"power": "on" if i % 2 else "off"} for i in range(50)])
    assert len(set(vbmc.ports)) == 50
    params = [ipmi_params(port, cipher_suite="17") for port in vbmc.ports]
    with ProcessPoolExecutor(8, mp_context=multiprocessing.get_context("spawn")) as pool:
        states = list(pool.map(_query, params))
    assert states == ["on" if i % 2 else "off" for i in range(50)]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (IpmiException("Incorrect password provided"), PowerAuthError),
        (IpmiException("Unauthorized name in RAKP2"), PowerAuthError),
        (IpmiException("completion code 0xd4", 0xD4), PowerAuthError),
        (IpmiException("No Cipher suite match with proposed security algorithms"),
         PowerSettingsError),
        (IpmiException("completion code 0xc1", 0xC1), PowerUnsupportedError),
        (IpmiException("timeout"), PowerTimeoutError),
        (IpmiException(None), PowerTimeoutError),
        (OSError("Network is unreachable"), PowerConnectionError),
    ],
)
def test_error_mapping(error, expected):
    assert isinstance(map_error(error), expected)


def _bootparam_5(port: int) -> str:
    """`ipmitool chassis bootparam get 5` against the vBMC: ipmitool's decoding of the flags."""
    path = require_tool("ipmitool", "ipmitool")
    done = subprocess.run(
        [path, "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", USER, "-P", PASSWORD,
         "-R", "2", "-N", "1", "chassis", "bootparam", "get", "5"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("efi", [True, False])
def test_the_efi_boot_flag_as_ipmitool_decodes_it_and_the_vbmc_records_it(vbmc, ipmi_params,
                                                                          efi):
    driver = IPMIDriver(ipmi_params(vbmc.port))  # power_boot_type auto: the caller's efi
    driver.set_boot_device("pxe", efi=efi)
    decoded = _bootparam_5(vbmc.port)
    assert "Boot Flag Valid" in decoded
    assert "Options apply to only next boot" in decoded
    assert "Force PXE" in decoded
    if efi:
        assert "BIOS EFI boot" in decoded
    else:
        assert "BIOS PC Compatible (legacy) boot" in decoded
        assert "BIOS EFI boot" not in decoded
    assert vbmc.state()["boot"] == {"device": "pxe", "persistent": False, "efi": efi}
