"""Enlistment: the anonymous job and POST enlist/ from an enlisting subnet, no duplicates."""
import re

import pytest
from rest_framework.test import APIClient

from nodes.choices import NodeStatus
from nodes.models import Event, Interface, Machine, ScriptSet
from nodes.services.enlistment import enlistment_allowed_from, parse_fields
from nodes.services.metadata import MetadataError
from nodes.services.tokens import token_active, token_authenticate
from tests.factories import SubnetFactory, machine_lease
from tests.nodes.api.metadata_helpers import API

pytestmark = pytest.mark.django_db
BOOT_MAC, OTHER_MAC = "52:54:00:00:10:01", "52:54:00:00:10:02"
FACTS = f"mac={BOOT_MAC}\nmac={OTHER_MAC.upper()}\narch=amd64\ncpu_count=4\nmemory_mib=2048\n"


@pytest.fixture
def enlisting():
    """A client inside a subnet that allows enlistment."""
    SubnetFactory(cidr="10.40.0.0/24", allow_enlistment=True)
    SubnetFactory(cidr="10.41.0.0/24", allow_enlistment=False)
    return APIClient(REMOTE_ADDR="10.40.0.17")


def enlist(client, body: str = FACTS):
    return client.post(API + "enlist/", data=body.encode(), content_type="text/plain")


def answer(response) -> dict:
    return dict(line.split("=", 1) for line in response.content.decode().splitlines())


def test_only_enlisting_subnets_may_enlist(enlisting):
    assert enlistment_allowed_from("10.40.0.200")
    assert not enlistment_allowed_from("10.41.0.5")
    assert not enlistment_allowed_from("192.0.2.1")
    assert not enlistment_allowed_from("not an address")
    outside = APIClient(REMOTE_ADDR="10.41.0.5")
    assert outside.get(API + "job/").status_code == 401
    assert enlist(outside).status_code == 403
    assert not Machine.objects.exists()


def test_anonymous_job_is_the_enlistment_runner(enlisting):
    response = enlisting.get(API + "job/")
    assert response.status_code == 200
    assert response.content.startswith(b"#!/bin/sh\n")
    assert b"JOB=enlistment" in response.content
    body = enlisting.get(API + "job/", HTTP_ACCEPT="application/json").json()
    assert (body["job"], body["system_id"], body["scripts"]) == ("enlistment", "", [])


def test_enlist_creates_a_machine_and_starts_commissioning(enlisting):
    response = enlist(enlisting)
    assert response.status_code == 200
    fields = answer(response)
    machine = Machine.objects.get(system_id=fields["system_id"])
    assert re.fullmatch(r"[a-z]+-[a-z]+(-\d+)?", machine.hostname)
    assert [i.mac_address for i in machine.interfaces.order_by("id")] == [BOOT_MAC, OTHER_MAC]
    assert (machine.architecture, machine.cpu_count, machine.memory) == ("amd64/generic", 4,
                                                                          2048)
    # Commissioning in the same boot, without a power action; the token is the job's.
    assert machine.status == NodeStatus.COMMISSIONING
    address = machine_lease(machine)
    assert token_authenticate(machine.system_id, fields["token"], address).machine == machine
    assert ScriptSet.objects.filter(machine=machine, result_type="commissioning").exists()
    types = set(Event.objects.filter(machine=machine).values_list("type", flat=True))
    assert {"enlisted", "commission"} <= types
    assert "job_started" not in types  # no netboot power on: the machine is already up
    assert not Event.objects.filter(description__contains=fields["token"]).exists()


def test_enlisting_again_returns_the_same_machine_without_a_token(enlisting):
    first = answer(enlist(enlisting))
    again = enlist(enlisting, f"mac={OTHER_MAC}\nmac=52:54:00:00:10:99\n")
    assert again.status_code == 200
    assert answer(again) == {"system_id": first["system_id"]}
    assert Machine.objects.count() == 1
    assert Interface.objects.count() == 2
    machine = Machine.objects.get()
    # The first job goes on: its token was not replaced.
    assert token_active(machine).key == first["token"]


def test_enlist_commission_off_leaves_the_machine_new(enlisting, settings):
    settings.ENLIST_COMMISSION = False
    fields = answer(enlist(enlisting))
    assert set(fields) == {"system_id"}
    machine = Machine.objects.get()
    assert machine.status == NodeStatus.NEW
    assert token_active(machine) is None and not machine.script_sets.exists()


@pytest.mark.parametrize("body", ["", "arch=amd64\n", "mac=zz:zz\n", "no equals sign\n",
                                  "=value\n", "mac=52:54:00:00:10:01\n" * 300])
def test_malformed_enlistment_is_400_and_creates_nothing(enlisting, body):
    assert enlist(enlisting, body).status_code == 400
    assert not Machine.objects.exists()


def test_parse_fields_keeps_repeated_keys():
    assert parse_fields("mac=a\n\nmac=b\n arch = amd64 \n") == {"mac": ["a", "b"],
                                                                "arch": ["amd64"]}
    with pytest.raises(MetadataError):
        parse_fields("nonsense")
