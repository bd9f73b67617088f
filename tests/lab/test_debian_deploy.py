"""Issue 16 end to end: Debian 12 (nodes.bootimages.debian, mmdebstrap) deployed on two lab VMs
at once: a SeaBIOS VM with the `flat` layout reaches Deployed through the deployed OS's own
cloud-init; an OVMF VM with Secure Boot on and the `lvm` layout runs user data that fails:
cloud-init reports it, Failed deployment with its message (the OS is up all the same: the test
checks it too). Two VMs, not three: three TCG guests on two cores made each deploy slower than
the two.

The deploy runner installs the root tarball from the rack's cache with the machine's storage
plan and Debian's own GRUB (shim on UEFI), and writes the cloud-init configuration the region
renders (the MAAS datasource, webhook reporting, the network with the AUTO address allocated at
deploy). The VM reboots, the rack answers "boot local", Debian boots from the disk, and its
cloud-init fetches meta-data and user-data from /MAAS/metadata/ and reports: Deployed when
modules-final ends. The test logs in over SSH from the lab with the owner's key, as cloud-init's
default user. Release with quick erase returns the AUTO addresses to the subnet.
"""
import json
import secrets
from pathlib import Path

import pytest

from lab.api import Api
from nodes.bootimages.debs import BuildError
from nodes.choices import Firmware, LinkMode, NodeStatus
from nodes.models import Machine
from nodes.services.accounts import sshkey_create
from nodes.services.bootresources import boot_resource_register_ephemeral
from nodes.services.links import interface_link_subnet
from power.services.parameters import machine_set_power
from tests.factories import (
    AdminFactory,
    BlockDeviceFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    UserFactory,
    make_api_key,
)
from tests.lab.helpers import (
    WAIT,
    build_boot_images,
    register_debian,
    serve_lab_network,
    timeline_text,
    wait_for_status,
)
from tests.lab.test_rescue import SSH_OPTIONS, keypair, ssh_client  # noqa: F401 - fixture
from tests.processes import skip_or_fail
from zones.models import StaticIPAddress, Subnet

pytestmark = [
    pytest.mark.lab(vms=2, racks=1, memory=1024, disk_gib=8,
                    firmware=("bios", "uefi-secureboot")),
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]
LAYOUTS = {"bios": "flat", "uefi-secureboot": "lvm"}
USER_DATA = "#!/bin/sh\necho {marker} > /var/tmp/metal-user-data\n"
FAILING = "echo this user data fails >&2\nexit 3\n"
USER = "debian"  # cloud-init's default user on Debian
GIB = 1 << 30


def lab_machine(vm, subnet: Subnet, admin) -> Machine:
    """The VM as a Ready machine (as commissioning leaves it): firmware, an 8 GiB vda, its
    interface linked AUTO to the lab's subnet with the default gateway."""
    firmware = Firmware.BIOS if vm.firmware == "bios" else Firmware.UEFI
    machine = MachineFactory(hostname=f"deb-{vm.name}", status=NodeStatus.READY,
                             cpu_count=1, memory=1024, architecture="amd64/generic",
                             firmware=firmware)
    machine_set_power(machine, "ipmi", vm.power_parameters)
    machine.save()
    BlockDeviceFactory(machine=machine, name="vda", size=8 * GIB)
    interface = InterfaceFactory(machine=machine, mac_address=vm.mac)
    interface_link_subnet(interface, admin, mode=LinkMode.AUTO, subnet=subnet,
                          default_gateway=True)
    return machine


@pytest.fixture
def region(lab, tmp_path, ssh_client) -> dict:  # noqa: F811
    """The ephemeral environment and Debian 12 registered and synced; DHCP on the lab's subnet,
    whose gateway and DNS server are the rack (the lab's addresses reserved); the two VMs as
    Ready machines of the admin; a user with an SSH key and the API clients."""
    ephemeral, _ = build_boot_images(lab.boot_resources_dir)
    boot_resource_register_ephemeral(ephemeral.kernel, ephemeral.initrd, series="bookworm")
    try:
        register_debian(lab.boot_resources_dir)
    except BuildError as exc:
        skip_or_fail(f"cannot build the Debian image: {exc}")
    subnet = serve_lab_network(lab, allow_enlistment=False)
    rack_ip = lab.racks[0].address
    Subnet.objects.filter(pk=subnet.pk).update(gateway_ip=rack_ip, dns_servers=[rack_ip])
    subnet.refresh_from_db()
    # The lab's own addresses (portal, rack) are not the region's to give.
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.99.0.1", end_ip="10.99.0.9")
    admin, user = AdminFactory(), UserFactory()
    key, public = keypair(tmp_path / "owner")
    sshkey_create(user, public, actor=user)
    base = f"http://127.0.0.1:{lab.config.region_port}"
    machines = {vm.name: lab_machine(vm, subnet, admin) for vm in lab.vms}
    return {"api": Api(base, make_api_key(user)), "key": key, "subnet": subnet,
            "rack_ip": rack_ip, "machines": machines}


def deploy(api: Api, machine: Machine, layout: str, user_data: str) -> None:
    api.post("machines/allocate/", {"system_id": machine.system_id})
    chosen = api.post(f"machines/{machine.system_id}/storage-layout/",
                      {"storage_layout": layout, "boot_disk": "vda"})
    assert chosen["storage_layout"] == layout, chosen
    deploying = api.post(f"machines/{machine.system_id}/deploy/", {
        "osystem": "debian", "distro_series": "bookworm", "user_data": user_data})
    assert deploying["status_name"] == "Deploying", deploying


def ssh(lab, key: Path, ip: str, command: str) -> str:
    """`command`'s output on the deployed VM, as cloud-init's default user, from the lab."""
    done = lab.run_in(lab.bridge_ns, ["ssh", "-i", str(key), *SSH_OPTIONS, f"{USER}@{ip}",
                                      command], timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def auto_address(machine: Machine) -> str:
    return StaticIPAddress.objects.get(link__interface__machine=machine).ip


def check_deployed_os(lab, region: dict, vm, machine: Machine, marker: str, since: int) -> None:
    """Over SSH: the hostname, the user data's output, the static address with the default
    route, and the layout asked for; on UEFI, Debian's kernel booted with Secure Boot on."""
    ip, key = auto_address(machine), region["key"]
    assert ssh(lab, key, ip, "hostname").strip() == machine.hostname
    assert ssh(lab, key, ip, "cat /var/tmp/metal-user-data").strip() == marker
    addresses = ssh(lab, key, ip, "ip -4 -o addr show scope global")
    assert f"inet {ip}/24" in addresses, addresses
    routes = ssh(lab, key, ip, "ip -4 route")
    assert f"default via {region['rack_ip']}" in routes, routes
    devices = json.dumps(json.loads(ssh(lab, key, ip, "lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT "
                                                      "/dev/vda")))
    if vm.firmware == "bios":
        assert '"fstype": "ext4", "mountpoint": "/"' in devices and '"lvm"' not in devices, devices
        return
    assert '"name": "vgroot-lvroot", "type": "lvm", "fstype": "ext4", "mountpoint": "/"' \
        in devices, devices
    assert '"fstype": "vfat", "mountpoint": "/boot/efi"' in devices, devices
    rebooted = vm.console_plain(since).split("metal: deployment over: reboot")[-1]
    assert "secureboot: Secure boot enabled" in rebooted, rebooted[-3000:]


def test_debian_deploys_with_its_layouts_and_cloud_init_reports_success_and_failure(lab, region):
    api, machines = region["api"], region["machines"]
    good, failing = lab.vms
    markers = {vm.name: f"MARKER-{secrets.token_hex(4)}" for vm in lab.vms}
    since = {vm.name: vm.console_size() for vm in lab.vms}
    for vm in lab.vms:
        user_data = USER_DATA.format(marker=markers[vm.name]) + (FAILING if vm is failing else "")
        deploy(api, machines[vm.name], LAYOUTS[vm.firmware], user_data)
    wait_for_status(api, lab, machines[good.name].system_id, "Deployed", ("Deploying",), WAIT)
    failed = wait_for_status(api, lab, machines[failing.name].system_id, "Failed deployment",
                             ("Deploying",), WAIT)
    assert failed["error_description"].startswith(
        "cloud-init modules-final/config-scripts-user failed"), failed
    assert "config-scripts-user failed" in timeline_text(machines[failing.name].system_id)
    assert "cloud-init finish modules-final SUCCESS" in timeline_text(
        machines[good.name].system_id)

    ips = {name: auto_address(machine) for name, machine in machines.items()}
    assert len(set(ips.values())) == 2, ips  # two deploys at once: two AUTO addresses
    for vm in lab.vms:  # the failed user data's OS is up and configured all the same
        check_deployed_os(lab, region, vm, machines[vm.name], markers[vm.name], since[vm.name])

    for machine in machines.values():
        api.post(f"machines/{machine.system_id}/release/", {"erase": True, "erase_mode": "quick"})
    for machine in machines.values():
        wait_for_status(api, lab, machine.system_id, "Ready", ("Disk erasing", "Releasing"), WAIT)
    assert not StaticIPAddress.objects.filter(ip__in=ips.values()).exists()
