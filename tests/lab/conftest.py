"""The `lab` fixture: qemu VMs with BMCs and racks in namespaces, and a region on the test DB.

Per module (`pytestmark = pytest.mark.lab(vms=1, racks=1, memory=512)` chooses the size, and
`firmware="uefi"` or `"uefi-secureboot"` OVMF instead of SeaBIOS;
`beat=True` adds the region's Celery beat, `env={...}` extra environment for the lab's processes,
e.g. short region timeouts): the network, the portal, the BMCs and the region (gunicorn + a
region Celery worker on the test database, in the root namespace, reached from the lab through
the portal). Per test: the racks
(started, registered, and reset after the test, whose database flush forgets them) and the VMs
(powered off and given blank disks after the test). Tests using it are transactional: the
region's processes must see what the test writes.

    def test_x(lab):
        vm = lab.vms[0]
        vm.power_on(netboot=True)
        vm.wait_for_console("iPXE", timeout=60)
"""
from pathlib import Path

import pytest
from django.conf import settings

from lab import netns
from lab.core import Lab, LabConfig
from lab.vm import firmware_unavailable
from lab.vm import unavailable_reason as vm_unavailable_reason
from tests.processes import free_tcp_port, process_env, skip_or_fail, wait_until
from zones.models import RackController
from zones.services.rackapi import rack_secret

DEFAULTS = {"vms": 1, "racks": 1, "memory": 512}


def require_lab() -> None:
    """Skip without root, iproute2 or qemu; fail instead when CI=true (CI must run the lab)."""
    reason = netns.unavailable_reason() or vm_unavailable_reason()
    if reason:
        skip_or_fail(reason)


@pytest.fixture
def lab_available() -> None:
    """For tests that build labs themselves (`python -m lab`): same skip/fail rule."""
    require_lab()


@pytest.fixture(scope="module")
def lab_module(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """The module's lab: network, portal, BMCs and region (racks start per test)."""
    require_lab()
    marker = request.node.get_closest_marker("lab")
    options = {**DEFAULTS, **(marker.kwargs if marker else {})}
    firmware = options.get("firmware", "bios")
    for reason in map(firmware_unavailable, [firmware] if isinstance(firmware, str) else firmware):
        if reason:
            skip_or_fail(reason)
    beat, extra_env = options.pop("beat", False), options.pop("env", {})
    boot_resources = Path(settings.VAR_DIR) / "lab-boot-resources"
    env = process_env(BOOT_RESOURCES_DIR=str(boot_resources), **extra_env)
    config = LabConfig(state_dir=tmp_path_factory.mktemp("lab"), region_port=free_tcp_port(),
                       broker_url=env["CELERY_BROKER_URL"],
                       broker_dir=str(Path(settings.VAR_DIR) / "broker"),
                       rack_secret=rack_secret(), env=env, **options)
    lab = Lab(config)
    lab.boot_resources_dir = boot_resources
    try:
        lab.prepare()
        lab.start_network()
        lab.start_portals()
        lab.start_bmcs()
        lab.start_region(env, beat=beat)
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab(lab_module, transactional_db, settings):
    """The lab, with its racks registered in this test's database."""
    settings.BOOT_RESOURCES_DIR = str(lab_module.boot_resources_dir)
    names = [rack.name for rack in lab_module.racks]
    try:
        for rack in lab_module.racks:
            lab_module.start_rack(rack)
        wait_until(lambda: RackController.objects.filter(name__in=names).count() == len(names)
                   and all(rack.credentials() for rack in lab_module.racks), 60,
                   lab_module.logs_tail)
        yield lab_module
    finally:
        # Before the flush: a rack whose row is gone would keep a dead token in bootsvc.
        for rack in lab_module.racks:
            lab_module.reset_rack(rack)
        for vm in lab_module.vms:
            if vm.running():
                vm.power_off()
            vm.create_disk(lab_module.config.disk_gib)
