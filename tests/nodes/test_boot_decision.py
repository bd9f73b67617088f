"""Boot decisions: an action for every status, enlistment, kernel paths and parameters."""
import threading
import time

import pytest
from django.db import connection, transaction

from nodes.choices import NodeStatus
from nodes.models import Machine
from nodes.selectors.boot import boot_decision
from tests.factories import (
    InterfaceFactory,
    MachineFactory,
    RackControllerFactory,
    SubnetFactory,
    TagFactory,
)
from tests.zones.rack_helpers import rack_client, register

pytestmark = pytest.mark.django_db
MAC = "52:54:00:12:34:56"
EXPECTED = {
    NodeStatus.COMMISSIONING: "commission", NodeStatus.TESTING: "commission",
    NodeStatus.DEPLOYING: "deploy", NodeStatus.DISK_ERASING: "erase",
    NodeStatus.ENTERING_RESCUE_MODE: "rescue", NodeStatus.RESCUE_MODE: "rescue",
    NodeStatus.DEPLOYED: "local",
}


@pytest.mark.parametrize("status", list(NodeStatus))
def test_action_for_every_status(status, settings):
    settings.REGION_URL = "http://region:5240/"
    machine = MachineFactory(status=status, hostname="node1")
    InterfaceFactory(machine=machine, mac_address=MAC)
    decision = boot_decision(MAC.upper())
    action = EXPECTED.get(status, "poweroff")
    assert decision["action"] == action
    assert (decision["mac"], decision["system_id"], decision["hostname"], decision["arch"]) == (
        MAC, machine.system_id, "node1", "amd64/generic")
    if action == "local":
        assert decision["kernel"] == decision["initrd"] == decision["kernel_params"] == ""
    else:
        assert decision["kernel"] == "images/ephemeral/amd64/linux"
        assert decision["initrd"] == "images/ephemeral/amd64/initrd.gz"
        assert decision["kernel_params"] == (
            f"console=ttyS0 metal.region=http://region:5240/ metal.system_id={machine.system_id}")


@pytest.mark.parametrize("status", [NodeStatus.READY, NodeStatus.ALLOCATED, NodeStatus.NEW])
def test_netboot_off_boots_locally(status):
    machine = MachineFactory(status=status, netboot=False)
    InterfaceFactory(machine=machine, mac_address=MAC)
    assert boot_decision(MAC)["action"] == "local"


def test_in_progress_statuses_win_over_netboot_off():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, netboot=False)
    InterfaceFactory(machine=machine, mac_address=MAC)
    assert boot_decision(MAC)["action"] == "commission"


def test_tag_kernel_options_and_architecture(settings):
    settings.REGION_URL = "http://region:5240"
    tags = [TagFactory(name="b-tag", kernel_opts="nomodeset"), TagFactory(name="a-tag",
            kernel_opts=" quiet "), TagFactory(name="c-tag")]
    machine = MachineFactory(status=NodeStatus.DEPLOYING, tags=tags, architecture="arm64/generic")
    InterfaceFactory(machine=machine, mac_address=MAC)
    decision = boot_decision(MAC)
    assert decision["kernel"] == "images/ephemeral/arm64/linux"
    assert decision["kernel_params"] == (
        f"console=ttyS0 metal.region=http://region:5240/ metal.system_id={machine.system_id}"
        " quiet nomodeset")


def test_unknown_mac_enlists_only_through_a_rack_on_an_enlisting_subnet(settings):
    settings.REGION_URL = "http://region:5240/"
    rack = RackControllerFactory()
    assert boot_decision(MAC, rack)["action"] == "local"  # no subnets
    rack.subnets.add(SubnetFactory(allow_enlistment=False))
    assert boot_decision(MAC, rack)["action"] == "local"
    rack.subnets.add(SubnetFactory(allow_enlistment=True))
    decision = boot_decision(MAC, rack)
    assert decision == {
        "mac": MAC, "action": "enlist", "system_id": "", "hostname": "", "arch": "amd64/generic",
        "kernel": "images/ephemeral/amd64/linux", "initrd": "images/ephemeral/amd64/initrd.gz",
        "kernel_params": "console=ttyS0 metal.region=http://region:5240/",
    }


def test_boot_endpoint_uses_the_request_host_without_region_url(settings):
    settings.REGION_URL = ""
    rack, token = register("r1")
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    InterfaceFactory(machine=machine, mac_address=MAC)
    client = rack_client(rack, token)
    response = client.get(f"/api/v1/rack/boot/{MAC.replace(':', '-')}/")
    assert response.status_code == 200
    assert response.json()["action"] == "commission"
    assert "metal.region=http://testserver/ " in response.json()["kernel_params"]
    assert client.get("/api/v1/rack/boot/not-a-mac/").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_decision_waits_for_an_action_that_has_not_committed(settings):
    """An action sends its power on before it commits: a machine that boots at once is decided
    by what the action commits, not by the status before it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises writers instead)")
    settings.REGION_URL = "http://region:5240/"
    machine = MachineFactory(status=NodeStatus.NEW)
    InterfaceFactory(machine=machine, mac_address=MAC)
    locked, decided = threading.Event(), []

    def decide():
        locked.wait(10)
        try:
            decided.append(boot_decision(MAC)["action"])
        finally:
            connection.close()

    asker = threading.Thread(target=decide)
    asker.start()
    with transaction.atomic():  # as the commission service: row locked, status changed
        Machine.objects.select_for_update().get(pk=machine.pk)
        Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.COMMISSIONING)
        locked.set()
        time.sleep(1)
        assert decided == []  # waiting for the commit, not answering "poweroff" from New
    asker.join(10)
    assert decided == ["commission"]
