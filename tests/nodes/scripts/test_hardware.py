"""for_hardware entries: validation, normal form, and matching against commissioning facts."""
import pytest
from django.core.exceptions import ValidationError

from nodes.scripts.hardware import (
    HardwareFacts,
    for_hardware,
    hardware_match,
    normalise_entry,
    parse_modaliases,
)
from nodes.scripts.metadata import parse_script_metadata

VIRTIO_NET = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
USB_HUB = "usb:v1D6Bp0002d0515dc09dsc00dp00ic09isc00ip00in00"
FACTS = HardwareFacts(modaliases=[VIRTIO_NET, USB_HUB, "acpi:PNP0303:"],
                      dmi={"vendor": "QEMU", "product": "Standard PC (i440FX + PIIX, 1996)",
                           "version": "pc-i440fx-7.2", "board_vendor": "", "board_product": ""})


@pytest.mark.parametrize("entry, stored", [
    ("pci:1AF4:1000", "pci:1af4:1000"),
    (" usb:1d6b:0002 ", "usb:1d6b:0002"),
    ("modalias:pci:v00001AF4d*", "modalias:pci:v00001AF4d*"),
    ("System_Vendor:QEMU", "system_vendor:QEMU"),
    ("mainboard_product: X11DPi-N", "mainboard_product:X11DPi-N"),
])
def test_entries_are_normalised(entry, stored):
    assert normalise_entry(entry) == stored


@pytest.mark.parametrize("entry", [
    "pci:1af4", "pci:1af4:10000", "pci:zzzz:1000", "usb:1d6b", "modalias:", "vendor:QEMU",
    "1af4:1000", "", "system_vendor:a\tb", 42,
])
def test_bad_entries_are_refused(entry):
    with pytest.raises(ValueError):
        normalise_entry(entry)


def test_list_string_and_duplicates():
    assert for_hardware("pci:1af4:1000, PCI:1AF4:1000,usb:1d6b:0002") == [
        "pci:1af4:1000", "usb:1d6b:0002"]
    assert for_hardware(None) == [] and for_hardware([]) == []
    with pytest.raises(ValueError):
        for_hardware({"pci": "1af4:1000"})


def test_metadata_block_errors_name_the_field():
    body = ("#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: fw\n"
            "# for_hardware: [pci:8086]\n# --- End MAAS 1.0 script metadata ---\n")
    with pytest.raises(ValidationError) as error:
        parse_script_metadata(body)
    assert "for_hardware" in error.value.message_dict
    packages = body.replace("for_hardware: [pci:8086]", "packages: {apt: [fwupd]}")
    with pytest.raises(ValidationError) as error:
        parse_script_metadata(packages)
    assert "cannot be installed" in error.value.message_dict["packages"][0]


@pytest.mark.parametrize("entries, matched", [
    (["pci:1af4:1000"], "pci:1af4:1000"),
    (["pci:8086:1572", "usb:1d6b:0002"], "usb:1d6b:0002"),
    (["modalias:pci:v00001AF4d00001000*"], "modalias:pci:v00001AF4d00001000*"),
    (["modalias:acpi:PNP0303:"], "modalias:acpi:PNP0303:"),
    (["system_vendor:qemu"], "system_vendor:qemu"),
    (["system_version:pc-i440fx-7.2"], "system_version:pc-i440fx-7.2"),
    (["pci:1af4:1001"], None),
    (["usb:1af4:1000"], None),  # a PCI id is not a USB id
    (["modalias:usb:v8086*"], None),
    (["system_product:Standard PC"], None),  # the whole value, not a prefix
    (["mainboard_vendor:"], None),
])
def test_matching(entries, matched):
    stored = [normalise_entry(entry) if entry != "mainboard_vendor:" else entry
              for entry in entries]
    assert hardware_match(stored, FACTS) == (normalise_entry(matched) if matched else None)


def test_modaliases_from_the_builtin_output():
    text = f"bus=pci\tmodalias={VIRTIO_NET}\nbus=usb\tmodalias={USB_HUB}\nnoise\n\n"
    assert parse_modaliases(text) == [VIRTIO_NET, USB_HUB]
    assert HardwareFacts(parse_modaliases(text)).ids("pci") == {"1af4:1000"}
    assert HardwareFacts(parse_modaliases(text)).ids("usb") == {"1d6b:0002"}
