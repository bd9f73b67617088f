"""The machine page: login, visibility, each section's data, secrets, actions, query count."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from nodes.choices import EventLevel, NodeStatus, PowerState
from nodes.models import Event, InterfaceLink, Machine
from power.services.parameters import machine_set_power
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    RackControllerFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    TagFactory,
    UserFactory,
    ZoneFactory,
    commissioning_passed,
)

pytestmark = pytest.mark.django_db
IPMI = {"power_address": "10.5.0.21", "power_user": "admin", "power_pass": "s3cr3t-pw"}


def page(client, machine) -> str:
    response = client.get(f"/machine/{machine.system_id}/")
    assert response.status_code == 200
    return response.content.decode()


def post_action(client, machine, action: str, **data):
    return client.post(f"/machine/{machine.system_id}/action/", {"action": action, **data},
                       follow=True)


def event(machine, type_: str, description: str, at, level=EventLevel.INFO) -> Event:
    row = Event.objects.create(machine=machine, hostname=machine.hostname, type=type_,
                               description=description, level=level)
    Event.objects.filter(pk=row.pk).update(created=at)
    return row


def test_login_required(client):
    machine = MachineFactory()
    response = client.get(f"/machine/{machine.system_id}/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.post(f"/machine/{machine.system_id}/action/", {"action": "lock"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_another_users_machine_is_404(client, user):
    theirs = MachineFactory(owner=UserFactory(), status=NodeStatus.DEPLOYED)
    result = ScriptResultFactory(script_set=ScriptSetFactory(machine=theirs))
    client.force_login(user)
    assert client.get(f"/machine/{theirs.system_id}/").status_code == 404
    assert client.get(f"/machine/{theirs.system_id}/results/{result.pk}/").status_code == 404
    response = client.post(f"/machine/{theirs.system_id}/action/", {"action": "release"})
    assert response.status_code == 404
    assert client.get("/machine/nosuch/").status_code == 404


def test_summary(client, admin):
    machine = MachineFactory(hostname="web-1", status=NodeStatus.DEPLOYED, owner=admin,
                             osystem="ubuntu", distro_series="noble", locked=True,
                             power_state=PowerState.ON, architecture="arm64/generic",
                             zone=ZoneFactory(name="rack-room"),
                             tags=[TagFactory(name="gpu"), TagFactory(name="fast")])
    client.force_login(admin)
    html = page(client, machine)
    assert "<h1>web-1</h1>" in html
    assert machine.system_id in html and "rack-room" in html and admin.username in html
    assert 'class="status status-deployed">Deployed</span>' in html
    assert 'id="power-state" class="power-on">On</span>' in html
    assert "ubuntu/noble" in html and "arm64/generic" in html
    assert '<span class="tag">fast</span><span class="tag">gpu</span>' in html
    assert 'id="machine-locked">yes<' in html


def test_hardware_interfaces_disks_and_addresses(client, admin):
    machine = MachineFactory(cpu_count=16, cpu_speed=2400, memory=32768)
    subnet = SubnetFactory(cidr="10.9.0.0/24", name="prov")
    eth0 = InterfaceFactory(machine=machine, name="eth0", mac_address="52:54:00:aa:bb:01",
                            vlan=subnet.vlan)
    address = StaticIPAddressFactory(subnet=subnet, ip="10.9.0.15", alloc_type="sticky")
    InterfaceLink.objects.create(interface=eth0, subnet=subnet, mode="static", address=address)
    BlockDeviceFactory(machine=machine, name="sda", model="QEMU HARDDISK", serial="QM0001",
                       size=2 * 1024**4)
    event(machine, "inventory_dmi", "vendor=QEMU, product=Standard PC", timezone.now())
    client.force_login(admin)
    html = page(client, machine)
    assert "16 cores at 2400 MHz" in html and "32.0 GiB" in html
    assert "52:54:00:aa:bb:01" in html and "10.9.0.15" in html and "10.9.0.0/24" in html
    assert f"{subnet.vlan.fabric.name}.0" in html and "STATIC" in html
    assert "QEMU HARDDISK" in html and "QM0001" in html and "2.0 TiB" in html
    assert "vendor=QEMU, product=Standard PC" in html


def test_bmc_password_never_in_the_page(client, admin, user):
    machine = MachineFactory(status=NodeStatus.READY)
    machine_set_power(machine, "ipmi", IPMI)
    machine.save()
    client.force_login(admin)
    html = page(client, machine)
    assert "s3cr3t-pw" not in html and "fernet:" not in html
    assert "ipmi" in html and "10.5.0.21" in html and "power_user" in html
    client.force_login(user)  # users see the power type only, as in the API
    html = page(client, machine)
    assert 'id="power-type">ipmi<' in html
    assert "s3cr3t-pw" not in html and "10.5.0.21" not in html and "power_user" not in html


def test_results_and_output_page(client, admin):
    machine = MachineFactory(status=NodeStatus.READY)
    started = timezone.now() - timedelta(minutes=5)
    commissioning = ScriptSetFactory(machine=machine, result_type="commissioning")
    passed = ScriptResultFactory(script_set=commissioning, script_name="10-cpu",
                                 status="passed", exit_status=0, started=started,
                                 ended=started + timedelta(seconds=75),
                                 stdout=b"cpu: 16 cores\n", stderr=b"a <warning>\n",
                                 result=b"result: ok\n")
    testing = ScriptSetFactory(machine=machine, result_type="testing")
    failed = ScriptResultFactory(script_set=testing, script_name="smartctl", status="failed",
                                 exit_status=3, runtime=2.5)
    client.force_login(admin)
    html = page(client, machine)
    assert f'data-result-id="{passed.pk}"' in html and f'data-result-id="{failed.pk}"' in html
    assert "10-cpu" in html and "1 min 15 s" in html and "2.5 s" in html
    assert 'class="status status-failed">Failed</span>' in html
    assert 'class="status status-ready">Passed</span>' in html
    assert "Commissioning ·" in html and "Testing ·" in html
    link = f'class="output" href="/machine/{machine.system_id}/results/{passed.pk}/"'
    assert link in html
    output = client.get(f"/machine/{machine.system_id}/results/{passed.pk}/").content.decode()
    assert '<pre class="output" id="stdout">cpu: 16 cores\n</pre>' in output
    assert '<pre class="output" id="stderr">a &lt;warning&gt;\n</pre>' in output
    assert '<pre class="output" id="result">result: ok\n</pre>' in output
    other = ScriptResultFactory(script_set=ScriptSetFactory(machine=MachineFactory()))
    assert client.get(f"/machine/{machine.system_id}/results/{other.pk}/").status_code == 404


def test_boot_timeline_steps_durations_and_attempts(client, admin):
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    t0 = timezone.now() - timedelta(minutes=10)
    steps = [("commission", "asked by the admin", -2),
             ("job_started", "commissioning job: netbooting the machine", 0),
             ("dhcp_ack", "DHCPACK 10.0.0.5 (rack r1)", 20),
             ("boot_decision", "Boot decision for 52:54:00:00:00:01: commission", 21),
             ("tftp_file", "lpxelinux.0 (rack r1)", 22),
             ("http_file", "images/ephemeral/kernel broke off (rack r1)", 30),
             ("boot_retry", "PXE boot retry 1 of 3: power cycling", 31),
             ("dhcp_ack", "DHCPACK 10.0.0.5 (rack r1)", 60),
             ("http_file", "images/ephemeral/kernel (rack r1)", 75)]
    for type_, text, second in steps:
        event(machine, type_, text, t0 + timedelta(seconds=second))
    event(machine, "tag_updated", "not a boot step", t0 + timedelta(seconds=40))
    event(machine, "set-zone", "not a boot step either", t0 + timedelta(seconds=41))
    client.force_login(admin)
    html = page(client, machine)
    timeline = html.split('id="boot-timeline"')[1].split("</section>")[0]
    assert timeline.count('class="timeline-step') == 9 and "not a boot step" not in timeline
    assert timeline.count('class="timeline-attempt"') == 2
    assert "Commissioning job ·" in timeline and "PXE boot retry ·" in timeline
    assert "kind-dhcp" in timeline and "kind-tftp" in timeline and "kind-retry" in timeline
    assert "20 s" in timeline and "29 s" in timeline  # job -> DHCP; retry -> DHCP again
    assert "width: " in timeline and "left: 0.00%" in timeline
    # The action that asked for the job opens its attempt: it is not an attempt of its own.
    first, second = timeline.split('class="timeline-attempt"')[1:]
    assert "asked by the admin" in first and "lpxelinux.0" in first and "retry 1" in second


def test_events_latest_first(client, admin):
    machine = MachineFactory()
    now = timezone.now()
    for index in range(60):
        event(machine, "power_on", f"event number {index:02d}", now - timedelta(seconds=60 - index))
    event(machine, "power_error", "BMC unreachable", now, level=EventLevel.ERROR)
    client.force_login(admin)
    html = page(client, machine)
    events = html.split('id="events"')[1].split("</table>")[0]
    assert events.count("<tr class=") == 50
    assert "BMC unreachable" in events and "event number 59" in events
    assert "event number 10" not in events
    assert events.index("BMC unreachable") < events.index("event number 59")
    assert 'class="level-error"' in events


def actions_shown(html: str) -> set[str]:
    section = html.split('id="machine-actions"')[1].split("</section>")[0]
    return {part.split('"')[0] for part in section.split('name="action" value="')[1:]}


def test_only_allowed_actions_are_shown(client, admin, user):
    machine = MachineFactory(status=NodeStatus.READY)
    client.force_login(admin)
    shown = actions_shown(page(client, machine))
    assert {"commission", "test", "deploy", "set-zone", "retire", "delete"} <= shown
    assert "release" not in shown and "abort" not in shown and "power-on" not in shown
    client.force_login(user)
    shown = actions_shown(page(client, machine))
    assert shown == {"allocate", "deploy"}  # unowned Ready: no admin action
    mine = MachineFactory(status=NodeStatus.DEPLOYED, owner=user)
    shown = actions_shown(page(client, mine))
    assert shown == {"release", "mark-broken", "lock", "rescue-mode"}


def test_mark_fixed_only_once_commissioning_passed(client, admin):
    machine = MachineFactory(status=NodeStatus.BROKEN)
    client.force_login(admin)
    assert "mark-fixed" not in actions_shown(page(client, machine))
    commissioning_passed(machine)
    assert "mark-fixed" in actions_shown(page(client, machine))


def test_locked_machine_offers_unlock_only(client, admin):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin, locked=True)
    client.force_login(admin)
    html = page(client, machine)
    assert actions_shown(html) == {"unlock"}
    assert '<button type="submit" name="action" value="power-off" disabled' in html
    assert '<button type="submit" name="action" value="query-power-state">' in html


def test_power_on_goes_through_the_service(client, admin, sent):
    subnet = SubnetFactory(cidr="10.5.0.0/24")
    rack = RackControllerFactory(name="r1", status="running")
    rack.subnets.add(subnet)
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin)
    machine_set_power(machine, "ipmi", IPMI)
    machine.save()
    client.force_login(admin)
    response = post_action(client, machine, "power-on")
    assert response.redirect_chain == [(f"/machine/{machine.system_id}/", 302)]
    (message,) = sent
    assert message["queue"] == "rack.r1" and "s3cr3t-pw" not in message["argsrepr"]
    assert machine.events.filter(type="power-on", user=admin).exists()
    assert 'class="success"' in response.content.decode()


def test_disallowed_action_shows_the_error_and_changes_nothing(client, admin):
    machine = MachineFactory(status=NodeStatus.READY)
    client.force_login(admin)
    response = post_action(client, machine, "release")
    html = response.content.decode()
    assert response.status_code == 200 and '<li class="error">' in html
    assert "Cannot release machine" in html
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY


def test_user_may_not_run_admin_actions(client, user):
    machine = MachineFactory(status=NodeStatus.READY)
    client.force_login(user)
    html = post_action(client, machine, "commission").content.decode()
    assert "You do not have permission to commission" in html
    assert Machine.objects.get(pk=machine.pk).status == NodeStatus.READY


def test_action_with_parameters(client, admin):
    machine = MachineFactory(status=NodeStatus.READY)
    zone = ZoneFactory(name="row-b")
    client.force_login(admin)
    html = post_action(client, machine, "set-zone", zone="row-b").content.decode()
    assert '<li class="success">' in html
    machine.refresh_from_db()
    assert machine.zone == zone
    html = post_action(client, machine, "set-zone", zone="no-such-zone").content.decode()
    assert '<li class="error">zone:' in html


def test_commission_from_the_page(client, admin, power_requests):
    machine = MachineFactory(status=NodeStatus.READY, power_type="manual")
    client.force_login(admin)
    post_action(client, machine, "commission", skip_storage="on")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.COMMISSIONING
    assert machine.script_sets.get(result_type="commissioning").options["skip_storage"] is True


def test_csrf_enforced(admin):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(f"/machine/{machine.system_id}/action/", {"action": "lock"})
    assert response.status_code == 403
    machine.refresh_from_db()
    assert machine.locked is False
    html = client.get(f"/machine/{machine.system_id}/").content.decode()
    token = html.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(f"/machine/{machine.system_id}/action/",
                           {"action": "lock", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    machine.refresh_from_db()
    assert machine.locked is True


def populate(machine, count: int) -> None:
    """Give a machine `count` of everything the page lists."""
    subnet = SubnetFactory()
    for index in range(count):
        interface = InterfaceFactory(machine=machine, vlan=subnet.vlan)
        address = StaticIPAddressFactory(subnet=subnet)
        InterfaceLink.objects.create(interface=interface, subnet=subnet, mode="static",
                                     address=address)
        BlockDeviceFactory(machine=machine)
        script_set = ScriptSetFactory(machine=machine)
        ScriptResultFactory(script_set=script_set, status="passed")
        ScriptResultFactory(script_set=script_set, status="failed")
        event(machine, "dhcp_ack", f"DHCPACK {index}", timezone.now())
        event(machine, "job_started", f"job {index}: netbooting", timezone.now())
    machine.tags.set([TagFactory() for _ in range(count)])


def test_query_count_is_fixed(client, admin, django_assert_max_num_queries):
    few, many = MachineFactory(status=NodeStatus.READY), MachineFactory(status=NodeStatus.READY)
    populate(few, 1)
    populate(many, 15)
    client.force_login(admin)
    page(client, few)  # warm the session and any cache
    with django_assert_max_num_queries(18) as few_queries:
        page(client, few)
    with django_assert_max_num_queries(len(few_queries)):
        page(client, many)


def test_allocate_and_delete_from_the_page(client, admin, user):
    machine = MachineFactory(status=NodeStatus.READY)
    client.force_login(user)
    post_action(client, machine, "allocate")
    machine.refresh_from_db()
    assert machine.status == NodeStatus.ALLOCATED and machine.owner == user
    client.force_login(admin)
    response = client.post(f"/machine/{machine.system_id}/action/", {"action": "delete"})
    assert response.status_code == 302 and response["Location"] == "/machines/"
    assert not Machine.objects.filter(pk=machine.pk).exists()


def test_unknown_action_is_an_error(client, admin):
    machine = MachineFactory(status=NodeStatus.READY)
    client.force_login(admin)
    html = post_action(client, machine, "explode").content.decode()
    assert "Unknown action" in html and '<li class="error">' in html
