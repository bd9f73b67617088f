"""Release with erase: options (erase_mode and MAAS's booleans), the erase job, its report."""
import pytest
from django.core.exceptions import ValidationError

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.services.erase import (
    erase_failure,
    erase_options,
    erase_report_parse,
    erase_report_record,
)
from nodes.services.metadata import MetadataError
from nodes.services.tokens import token_active, token_issue
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    StaticIPAddressFactory,
    UserFactory,
)
from tests.nodes.api.metadata_helpers import API, machine_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/machines/"


def line(disk="vda", *, mode="quick", requested=None, size=134217728, written=4194304,
         samples=64, bad=0, result="passed", note=""):
    return (f"disk={disk}\tsize={size}\trequested={requested or mode}\tmode={mode}\t"
            f"bytes_written={written}\tsamples={samples}\tbad={bad}\tresult={result}\t"
            f"note={note}\n")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"erase": False}, ("", "full")),
    ({"erase": False, "quick_erase": False, "secure_erase": False}, ("", "full")),  # MAAS clients
    ({"erase": True}, ("full", "full")),
    ({"erase": True, "quick_erase": True}, ("quick", "full")),
    ({"erase": True, "secure_erase": True}, ("secure", "full")),
    ({"erase": True, "secure_erase": True, "quick_erase": True}, ("secure", "quick")),
    ({"erase": True, "erase_mode": "quick"}, ("quick", "full")),
    ({"erase": True, "erase_mode": "secure", "quick_erase": True}, ("secure", "quick")),
    ({"erase": True, "erase_mode": "full", "quick_erase": False}, ("full", "full")),
])
def test_erase_options(kwargs, expected):
    assert erase_options(**kwargs) == expected


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"erase": False, "erase_mode": "quick"}, "erase"),
    ({"erase": False, "secure_erase": True}, "erase"),
    ({"erase": True, "erase_mode": "full", "quick_erase": True}, "erase_mode"),
    ({"erase": True, "erase_mode": "quick", "secure_erase": True}, "erase_mode"),
    ({"erase": True, "erase_mode": "zap"}, "erase_mode"),
])
def test_contradicting_erase_options_are_field_errors(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        erase_options(**kwargs)
    assert list(caught.value.message_dict) == [field]


def deployed_machine(**fields):
    owner = UserFactory()
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=owner, user_data="#cloud-config",
                             osystem="debian", distro_series="bookworm", netboot=False, **fields)
    return machine, owner


def test_release_with_erase_api(admin_client, django_capture_on_commit_callbacks):
    machine, _owner = deployed_machine()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{URL}{machine.system_id}/release/",
                                     {"erase": True, "quick_erase": True, "comment": "bye"})
    assert response.status_code == 200, response.content
    assert response.json()["status_name"] == "Disk erasing"
    token = token_active(machine)
    assert (token.purpose, token.options) == ("erase", {"mode": "quick",
                                                        "secure_fallback": "full"})
    release = Event.objects.get(machine=machine, type="release")
    assert "Deployed → Disk erasing; erase (quick); bye" == release.description
    assert Event.objects.filter(machine=machine, type="job_started").exists()
    # A machine that may be running (Deployed) is power cycled into the ephemeral environment.
    assert "Power cycle" in Event.objects.get(machine=machine, type="power_request").description


@pytest.mark.parametrize(("body", "mode", "fallback"), [
    ({"erase": True}, "full", "full"),
    ({"erase": True, "erase_mode": "secure"}, "secure", "full"),
    ({"erase": True, "secure_erase": True, "quick_erase": True}, "secure", "quick"),
])
def test_release_erase_modes(admin_client, body, mode, fallback):
    machine, _owner = deployed_machine()
    assert admin_client.post(f"{URL}{machine.system_id}/release/", body,
                             format="json").status_code == 200
    assert token_active(machine).options == {"mode": mode, "secure_fallback": fallback}


@pytest.mark.parametrize("body", [{"erase_mode": "quick"}, {"erase": True, "erase_mode": "zap"},
                                  {"erase": True, "erase_mode": "full", "quick_erase": True}])
def test_bad_release_options_are_400_and_nothing_changes(admin_client, body):
    machine, _owner = deployed_machine()
    response = admin_client.post(f"{URL}{machine.system_id}/release/", body, format="json")
    assert response.status_code == 400, response.content
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.DEPLOYED
    assert token_active(machine) is None


def test_release_without_erase_is_unchanged(admin_client):
    machine, _owner = deployed_machine()  # manual power: Ready at once
    response = admin_client.post(f"{URL}{machine.system_id}/release/")
    assert response.json()["status_name"] == "Ready"
    assert token_active(machine) is None


def erasing(mode="quick", fallback="full", disks=("vda",)):
    machine, owner = deployed_machine()
    for name in disks:
        BlockDeviceFactory(machine=machine, name=name)
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DISK_ERASING,
                                                 previous_status=NodeStatus.DEPLOYED)
    machine.refresh_from_db()
    key = token_issue(machine, "erase", {"mode": mode, "secure_fallback": fallback}).key
    return machine, owner, key


def test_job_is_the_erase_runner_with_mode_and_inventory_disks(settings):
    settings.METADATA_HEARTBEAT_INTERVAL = 30
    machine, _owner, key = erasing("secure", "quick", disks=("vda", "sdb"))
    client = machine_client(machine, key)
    script = client.get(f"{API}job/").content.decode()
    assert script.startswith("#!/bin/sh\n# metal erase job")
    for expected in ("MODE=secure\n", "FALLBACK=quick\n", "DISKS='sdb vda'\n",
                     "QUICK_BYTES=2097152\n", "SAMPLES=64\n", "HEARTBEAT=30\n",
                     f'SYSTEM_ID="${{METAL_SYSTEM_ID:-{machine.system_id}}}"'):
        assert expected in script
    assert key not in script
    spec = client.get(f"{API}job/", HTTP_ACCEPT="application/json").json()
    assert spec == {"system_id": machine.system_id, "job": "erase", "mode": "secure",
                    "secure_fallback": "quick", "disks": ["sdb", "vda"],
                    "quick_bytes": 2097152, "samples": 64, "heartbeat_interval": 30,
                    "poweroff": True}


def test_passing_report_makes_it_ready_and_clears_what_the_user_had(
        django_capture_on_commit_callbacks):
    machine, owner, key = erasing()
    nic = InterfaceFactory(machine=machine)
    StaticIPAddressFactory(interface=nic, alloc_type="auto")
    sticky = StaticIPAddressFactory(interface=nic, alloc_type="sticky")
    reserved = StaticIPAddressFactory(alloc_type="user_reserved", user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = machine_client(machine, key).post(f"{API}erase-report/", line(),
                                                     content_type="text/plain")
    assert response.status_code == 200, response.content
    assert response.content == b"poweroff=1\n"
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY
    assert (machine.owner, machine.user_data, machine.osystem) == (None, "", "")
    assert machine.netboot is True
    assert token_active(machine) is None
    addresses = set(nic.ips.values_list("pk", flat=True))
    assert addresses == {sticky.pk}  # automatic addresses released, sticky kept
    assert reserved.__class__.objects.filter(pk=reserved.pk).exists()
    report = Event.objects.get(machine=machine, type="erase_report")
    assert report.level == EventLevel.INFO
    assert report.description.splitlines() == [
        "Disk erasing passed: 1 disk(s) erased and verified",
        "vda: 134217728 bytes, quick erase, 4194304 bytes written, 64 blocks read back, "
        "0 not zero: passed",
    ]
    assert Event.objects.filter(machine=machine, type="power_request").exists()  # powered off


@pytest.mark.parametrize(("report", "reason"), [
    (line(result="failed", bad=3, note="3 of 64 sampled blocks are not zero"),
     "Disk erasing failed: vda: 3 of 64 sampled blocks are not zero"),
    (line(mode="full", requested="secure", result="failed", note="write of 4096 bytes at 0 "
          "failed: dd: /dev/vda: Operation not permitted"),
     "Disk erasing failed: vda: write of 4096 bytes at 0 failed: dd: /dev/vda: Operation not "
     "permitted"),
    (line(bad=2), "Disk erasing failed: vda: reported passed but 2 of 64 sampled blocks are "
                  "not zero"),
    (line(samples=0), "Disk erasing failed: vda: reported passed but 0 of 0 sampled blocks"
                      " are not zero"),
    (line("vdb"), "Disk erasing failed: vda: not in the erase report"),
    ("", "Disk erasing failed: vda: not in the erase report"),
])
def test_failing_report_is_failed_disk_erasing(report, reason):
    machine, owner, key = erasing()
    response = machine_client(machine, key).post(f"{API}erase-report/", report,
                                                 content_type="text/plain")
    assert response.status_code == 200, response.content
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_DISK_ERASING
    assert machine.error_description == reason
    assert machine.owner == owner  # not released: still the user's, as in MAAS
    assert token_active(machine) is None
    event = Event.objects.get(machine=machine, type="erase_report")
    assert event.level == EventLevel.ERROR and event.description.startswith(reason)


def test_secure_fallback_is_described():
    machine, _owner, key = erasing("secure", disks=())
    note = ("secure erase unsupported (/dev/vda: BLKSECDISCARD failed: Operation not supported"
            "; ...): full erase instead")
    machine_client(machine, key).post(
        f"{API}erase-report/", line(mode="full", requested="secure", note=note),
        content_type="text/plain")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY  # no inventory: the disks it found
    description = Event.objects.get(machine=machine, type="erase_report").description
    assert "vda: 134217728 bytes, full erase (secure requested)" in description
    assert note in description


@pytest.mark.parametrize("report", [
    "disk=vda\tresult=passed\n",  # no mode
    line(result="maybe"),
    line(disk="../etc"),
    line(samples="x"),
    line() + line(),
    "garbage\n",
])
def test_malformed_report_is_400_and_changes_nothing(report):
    machine, _owner, key = erasing()
    response = machine_client(machine, key).post(f"{API}erase-report/", report,
                                                 content_type="text/plain")
    assert response.status_code == 400, response.content
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DISK_ERASING
    assert token_active(machine) is not None
    assert not Event.objects.filter(machine=machine, type="erase_report").exists()


def test_report_without_an_erase_job_is_refused():
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    key = token_issue(machine, "commissioning").key
    response = machine_client(machine, key).post(f"{API}erase-report/", line(),
                                                 content_type="text/plain")
    assert response.status_code == 400
    with pytest.raises(MetadataError):
        erase_report_record(machine, line())
    assert machine_client(machine, "wrong").post(f"{API}erase-report/", line(),
                                                 content_type="text/plain").status_code == 401


def test_parse_and_failure_helpers():
    disks = erase_report_parse(line() + "\n" + line("sda", mode="full", note="ok  "))
    assert [d["disk"] for d in disks] == ["vda", "sda"]
    assert disks[1]["note"] == "ok" and disks[0]["bytes_written"] == 4194304
    assert erase_failure(disks, ["sda", "vda"]) is None
    two = erase_failure([{**disks[0], "result": "failed", "note": ""}], ["vda", "sdz"])
    assert two == "Disk erasing failed: sdz: not in the erase report (and 1 more)"
