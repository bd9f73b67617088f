"""MAAS's embedded YAML metadata block: fields, aliases, timeouts, errors."""
import pytest
from django.core.exceptions import ValidationError

from nodes.scripts.metadata import parse_script_metadata


def block(*lines: str, prefix: str = "# ") -> str:
    inner = "\n".join(f"{prefix}{line}" for line in lines)
    return (f"#!/bin/sh\n{prefix}--- Start MAAS 1.0 script metadata ---\n{inner}\n"
            f"{prefix}--- End MAAS 1.0 script metadata ---\necho hi\n")


def test_all_fields():
    meta = parse_script_metadata(block(
        "name: smartctl-validate", "title: Storage status", "description: Validate SMART.",
        "tags: [storage, smart]", "script_type: testing", "hardware_type: storage",
        "parallel: instance", "timeout: 300", "destructive: false",
        "parameters:", "  storage: {type: storage, argument_format: '{path}'}",
        "for_hardware: ['pci:8086:1918', 'modalias:pci:v00008086*']", "may_reboot: true",
        "recommission: false", "packages: {}", "whatever: 1",
    ))
    assert meta == {
        "name": "smartctl-validate", "title": "Storage status", "description": "Validate SMART.",
        "tags": ["storage", "smart"], "script_type": "testing", "hardware_type": "storage",
        "parallel": "instance", "timeout": 300, "destructive": False,
        "parameters": {"storage": {"type": "storage", "argument_format": "{path}"}},
        "for_hardware": ["pci:8086:1918", "modalias:pci:v00008086*"], "may_reboot": True,
        "recommission": False, "packages": {},
    }


@pytest.mark.parametrize("line, key, value", [
    ("script_type: commission", "script_type", "commissioning"),
    ("script_type: test", "script_type", "testing"),
    ("script_type: Testing", "script_type", "testing"),
    ("tags: storage, slow ,", "tags", ["storage", "slow"]),
    ("timeout: '01:02:03'", "timeout", 3723),
    ("timeout: '10:00'", "timeout", 600),
    ("timeout: 00:10:00", "timeout", 600),
    ("timeout: '45'", "timeout", 45),
    ("hardware_type: machine", "hardware_type", "node"),
    ("parallel: none", "parallel", "disabled"),
    ("destructive: 'yes'", "destructive", True),
])
def test_aliases_and_formats(line, key, value):
    assert parse_script_metadata(block(line))[key] == value


def test_other_comment_prefixes_and_no_block():
    assert parse_script_metadata(block("name: lua-one", prefix="-- "))["name"] == "lua-one"
    assert parse_script_metadata(block("name: py", prefix="#"))["name"] == "py"
    assert parse_script_metadata("#!/bin/sh\necho no metadata\n") == {}


@pytest.mark.parametrize("body, field", [
    (block("name: [unclosed"), "body"),
    (block("- just", "- a list"), "body"),
    ("#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: x\n", "body"),
    (block("timeout: -5"), "timeout"),
    (block("timeout: forever"), "timeout"),
    (block("timeout: true"), "timeout"),
    (block("script_type: deploy"), "script_type"),
    (block("hardware_type: gpu"), "hardware_type"),
    (block("parallel: always"), "parallel"),
    (block("destructive: maybe"), "destructive"),
    (block("tags: {a: 1}"), "tags"),
    (block("tags: [has space]"), "tags"),
    (block("parameters: [a]"), "parameters"),
    (block("parameters: {x: 1}"), "parameters"),
    (block("parameters: {x: {type: gpu}}"), "parameters"),
    (block("name: 'a/b'"), "name"),
])
def test_invalid_values_are_field_errors(body, field):
    with pytest.raises(ValidationError) as info:
        parse_script_metadata(body)
    assert field in info.value.message_dict, info.value.message_dict


def test_several_errors_are_reported_together():
    with pytest.raises(ValidationError) as info:
        parse_script_metadata(block("timeout: x", "parallel: y", "title: fine"))
    assert set(info.value.message_dict) == {"timeout", "parallel"}
