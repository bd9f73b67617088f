"""The console's machine list: visibility, filters and search, a fixed number of queries per
page, the live endpoint, and bulk actions through the services (confirm, then per-machine
outcomes)."""
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from nodes.choices import EventLevel, NodeStatus
from nodes.models import BlockDevice, Event, Interface, Machine, Tag
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    RackControllerFactory,
    ResourcePoolFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    TagFactory,
    UserFactory,
    VLANFactory,
    ZoneFactory,
)
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import StaticIPAddress, Subnet

pytestmark = pytest.mark.django_db
LIST = "/machines/"
LIVE = "/machines/live/"
ACTION = "/machines/action/"
CONFIRM = "/machines/action/confirm/"


def login(client, who):
    client.force_login(who)
    return client


def listed(response) -> list[str]:
    """The system ids of the rows of the machine list."""
    assert response.status_code == 200, response.content[:500]
    return re.findall(r'<tr data-system-id="([^"]+)"', response.content.decode())


# --- login and visibility -------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url"), [("get", LIST), ("get", LIVE), ("post", ACTION),
                                              ("post", CONFIRM)])
def test_every_page_needs_a_login(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_user_sees_unowned_machines_and_their_own_only(client, user):
    free = MachineFactory(status=NodeStatus.READY)
    mine = MachineFactory(status=NodeStatus.DEPLOYED, owner=user)
    theirs = MachineFactory(status=NodeStatus.DEPLOYED, owner=UserFactory())
    ids = listed(login(client, user).get(LIST))
    assert set(ids) == {free.system_id, mine.system_id}
    assert theirs.hostname not in client.get(LIST).content.decode()


def test_the_row_shows_the_machine(client, admin):
    machine = MachineFactory(hostname="web-1", status=NodeStatus.FAILED_COMMISSIONING,
                             power_state="on", owner=admin, cpu_count=8, memory=16384,
                             error_description="IPMI said no", tags=[TagFactory(name="gpu")])
    interface = InterfaceFactory(machine=machine)
    BlockDeviceFactory(machine=machine, size=2 * 1024**4)
    BlockDeviceFactory(machine=machine, size=1024**4)
    StaticIPAddressFactory(subnet=SubnetFactory(cidr="10.9.0.0/24"), ip="10.9.0.7",
                           interface=interface)
    html = login(client, admin).get(LIST).content.decode()
    row = html[html.index(f'data-system-id="{machine.system_id}"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/machine/{machine.system_id}/"' in row and "web-1" in row
    assert '<span class="status status-failed">Failed commissioning</span>' in row
    assert "IPMI said no" in row
    assert '<td class="power"><span class="power-on">on</span>' in row
    assert '<span class="tag">gpu</span>' in row
    assert "3.0 TiB" in row and "16.0 GiB" in row and "10.9.0.7" in row
    assert f'name="system_ids" value="{machine.system_id}"' in row


def test_the_status_message_is_the_latest_event_without_an_error(client, admin):
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    Event.objects.create(machine=machine, type="x", description="older")
    Event.objects.create(machine=machine, type="job_started", description="netbooting")
    Event.objects.create(machine=machine, type="power_request", level=EventLevel.DEBUG,
                         description="sent to rack.r1")
    html = login(client, admin).get(LIST).content.decode()
    assert '<div class="status-message">netbooting</div>' in html


# --- filters and search -----------------------------------------------------------------------

@pytest.fixture
def fleet(admin):
    """Machines that differ in one thing each, for the filters and the search."""
    zone, pool, tag, other = ZoneFactory(name="row-2"), ResourcePoolFactory(name="gpus"), \
        TagFactory(name="fast"), UserFactory(username="bob")
    rack = RackControllerFactory(name="rack-a")
    vlan = VLANFactory(primary_rack=rack)
    m = {
        "failed": MachineFactory(hostname="alpha", status=NodeStatus.FAILED_DEPLOYMENT),
        "progress": MachineFactory(hostname="bravo", status=NodeStatus.DEPLOYING, zone=zone),
        "ready": MachineFactory(hostname="charlie", status=NodeStatus.READY, pool=pool),
        "deployed": MachineFactory(hostname="delta", status=NodeStatus.DEPLOYED, owner=other,
                                   tags=[tag]),
        "racked": MachineFactory(hostname="echo", status=NodeStatus.NEW),
    }
    InterfaceFactory(machine=m["racked"], name="eth0", vlan=vlan, mac_address="52:54:00:aa:bb:01")
    # Only the boot (first physical) interface counts for the rack.
    InterfaceFactory(machine=m["failed"], name="eth0", mac_address="52:54:00:aa:bb:02")
    InterfaceFactory(machine=m["failed"], name="eth1", vlan=vlan,
                     mac_address="52:54:00:cc:dd:03")
    address = InterfaceFactory(machine=m["ready"], name="eth0", mac_address="52:54:00:ee:ff:04")
    StaticIPAddressFactory(subnet=SubnetFactory(cidr="10.20.0.0/24"), ip="10.20.0.33",
                           interface=address)
    return m


@pytest.mark.parametrize(("query", "expected"), [
    ("status=failed", ["failed"]),
    ("status=progress", ["progress"]),
    ("status=ready", ["ready", "racked"]),  # New is in the ready group, as MAAS colours it
    ("status=deployed", ["deployed"]),
    ("zone=row-2", ["progress"]),
    ("pool=gpus", ["ready"]),
    ("tag=fast", ["deployed"]),
    ("owner=bob", ["deployed"]),
    ("rack=rack-a", ["racked"]),
    ("zone=nowhere", []),
    ("q=CHAR", ["ready"]),  # hostname, any case
    ("q=52:54:00:cc:dd:03", ["failed"]),  # a whole MAC, of any interface
    ("q=52-54-00-EE-FF-04", ["ready"]),  # a MAC in another notation
    ("q=aa:bb", ["failed", "racked"]),  # part of a MAC
    ("q=10.20.0.33", ["ready"]),  # an address
    ("q=10.20.", ["ready"]),  # the start of an address
    ("status=ready&tag=fast", []),
    ("status=deployed&tag=fast&owner=bob", ["deployed"]),
])
def test_filters_and_search(client, admin, fleet, query, expected):
    ids = listed(login(client, admin).get(f"{LIST}?{query}"))
    assert sorted(ids) == sorted(fleet[key].system_id for key in expected)


def test_search_by_system_id(client, admin, fleet):
    ids = listed(login(client, admin).get(f"{LIST}?q={fleet['deployed'].system_id}"))
    assert ids == [fleet["deployed"].system_id]


def test_the_filter_form_keeps_its_values_and_offers_the_choices(client, admin, fleet):
    html = login(client, admin).get(f"{LIST}?status=progress&zone=row-2&q=br").content.decode()
    assert '<option value="progress" selected>In progress</option>' in html
    assert "<option selected>row-2</option>" in html and 'value="br"' in html
    for name in ("gpus", "fast", "bob", "rack-a"):
        assert f"<option>{name}</option>" in html
    for name in ("q", "status", "zone", "pool", "tag", "owner", "rack", "action"):
        assert f'name="{name}"' in html


def test_pages_keep_the_filters(client, admin):
    Machine.objects.bulk_create([Machine(hostname=f"n{i:03d}", system_id=f"s{i:03d}",
                                         status=NodeStatus.READY) for i in range(120)])
    login(client, admin)
    first = client.get(f"{LIST}?status=ready&q=n")
    assert len(listed(first)) == 50
    assert "page=2" in first.content.decode()
    assert "?status=ready&amp;q=n&amp;page=2" in first.content.decode()
    third = client.get(f"{LIST}?status=ready&q=n&page=3")
    assert listed(third) == [f"s{i:03d}" for i in range(100, 120)]


# --- a fixed number of queries --------------------------------------------------------------

def make_machines(count: int, prefix: str) -> None:
    """`count` machines with an interface, an address, two disks, two tags and two events
    each, created in bulk."""
    subnet = Subnet.objects.filter(cidr="10.128.0.0/16").first() or SubnetFactory(
        cidr="10.128.0.0/16")
    tags = [Tag.objects.get_or_create(name=f"t{i}")[0] for i in range(4)]
    owner = UserFactory()
    machines = Machine.objects.bulk_create([
        Machine(hostname=f"{prefix}-{i:05d}", system_id=f"{prefix}{i:05d}",
                status=NodeStatus.READY if i % 2 else NodeStatus.DEPLOYED,
                owner=None if i % 2 else owner, cpu_count=4, memory=4096)
        for i in range(count)])
    interfaces = Interface.objects.bulk_create([
        Interface(machine=m, name="eth0", mac_address=f"52:{ord(prefix[0]):02x}:00:00:"
                  f"{i >> 8 & 255:02x}:{i & 255:02x}") for i, m in enumerate(machines)])
    base = int(subnet.network[0]) + (1 if prefix == "a" else 4096)
    from ipaddress import ip_address

    StaticIPAddress.objects.bulk_create([
        StaticIPAddress(ip=str(ip_address(base + i)), subnet=subnet, interface=interface)
        for i, interface in enumerate(interfaces)])
    BlockDevice.objects.bulk_create([BlockDevice(machine=m, name=name, size=10**12)
                                     for m in machines for name in ("sda", "sdb")])
    Machine.tags.through.objects.bulk_create([
        Machine.tags.through(machine=m, tag=tags[(i + j) % 4])
        for i, m in enumerate(machines) for j in range(2)])
    Event.objects.bulk_create([Event(machine=m, type="x", description=f"event {j}")
                               for m in machines for j in range(2)])


def count_queries(client, url: str) -> int:
    client.get(url)  # the first request after a login saves the session again
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("url", [LIST, f"{LIST}?status=ready&tag=t1&q=a-0",
                                 f"{LIST}?page=2", f"{LIST}?q=10.128.0.5&owner=nobody",
                                 f"{LIST}?rack=r1&zone=default"])
def test_the_page_costs_the_same_queries_at_10_and_1000_machines(admin, user, url):
    admin_client, user_client = Client(), Client()
    admin_client.force_login(admin)
    user_client.force_login(user)
    make_machines(10, "a")
    small = [count_queries(admin_client, url), count_queries(user_client, url)]
    make_machines(1000, "b")
    assert [count_queries(admin_client, url), count_queries(user_client, url)] == small
    assert max(small) <= 14


def test_the_live_endpoint_costs_the_same_queries_at_10_and_1000_machines(client, admin):
    make_machines(10, "a")
    login(client, admin)
    url = LIVE + "?ids=" + ",".join(Machine.objects.values_list("system_id", flat=True))
    small = count_queries(client, url)
    make_machines(1000, "b")
    url = LIVE + "?ids=" + ",".join(Machine.objects.values_list("system_id", flat=True)[:200])
    assert count_queries(client, url) == small <= 5


# --- live updates -----------------------------------------------------------------------------

def test_live_returns_current_status_and_power_of_visible_machines_only(client, user):
    mine = MachineFactory(status=NodeStatus.DEPLOYING, owner=user, power_state="on")
    free = MachineFactory(status=NodeStatus.READY, power_state="off",
                          error_description="")
    Event.objects.create(machine=free, type="x", description="commissioned")
    hidden = MachineFactory(status=NodeStatus.DEPLOYED, owner=UserFactory())
    login(client, user)
    ids = ",".join([mine.system_id, free.system_id, hidden.system_id, "nosuch"])
    body = client.get(f"{LIVE}?ids={ids}").json()
    rows = {row["system_id"]: row for row in body["machines"]}
    assert set(rows) == {mine.system_id, free.system_id}
    assert rows[mine.system_id] == {"system_id": mine.system_id, "status": 9,
                                    "status_name": "Deploying",
                                    "status_class": "status-progress", "power_state": "on",
                                    "status_message": ""}
    assert rows[free.system_id]["status_message"] == "commissioned"
    Machine.objects.filter(pk=mine.pk).update(status=NodeStatus.FAILED_DEPLOYMENT,
                                              power_state="error", error_description="boom")
    row = client.get(f"{LIVE}?ids={mine.system_id}").json()["machines"][0]
    assert (row["status_name"], row["status_class"], row["power_state"],
            row["status_message"]) == ("Failed deployment", "status-failed", "error", "boom")


def test_the_page_polls_the_live_endpoint(client, admin):
    MachineFactory()
    html = login(client, admin).get(LIST).content.decode()
    assert "/machines/live/?ids=" in html and "setInterval(refresh, 3000)" in html


# --- bulk actions -----------------------------------------------------------------------------

def outcomes(response) -> dict[str, str]:
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    assert 'id="bulk-results"' in html
    return dict(re.findall(r'<tr data-system-id="([^"]+)">.*?<td class="outcome[^"]*"[^>]*>'
                           r"([^<]*)</td>", html, re.S))


def test_the_confirmation_names_every_machine_and_changes_nothing(client, admin):
    machines = MachineFactory.create_batch(3, status=NodeStatus.READY)
    ids = [m.system_id for m in machines]
    response = login(client, admin).post(ACTION, {"action": "commission", "system_ids": ids,
                                                  "skip_storage": "1"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="bulk-confirm"' in html
    assert "Commission 3 machines?" in html and "skip storage" in html
    for machine in machines:
        assert machine.hostname in html
        assert f'<input type="hidden" name="system_ids" value="{machine.system_id}">' in html
    assert '<input type="hidden" name="skip_storage" value="1">' in html
    assert set(Machine.objects.values_list("status", flat=True)) == {NodeStatus.READY}


def test_the_confirmation_skips_machines_the_user_cannot_see(client, user):
    hidden = MachineFactory(owner=UserFactory(), status=NodeStatus.DEPLOYED)
    mine = MachineFactory(owner=user, status=NodeStatus.DEPLOYED)
    html = login(client, user).post(ACTION, {"action": "lock", "system_ids": [
        hidden.system_id, mine.system_id]}).content.decode()
    assert mine.hostname in html and hidden.hostname not in html
    assert f'value="{hidden.system_id}"' not in html


@pytest.mark.parametrize(("data", "message"), [
    ({"action": "commission"}, "Select at least one machine."),
    ({"action": "nope", "system_ids": ["x"]}, "Choose an action."),
    ({"action": "set-zone", "system_ids": ["x"]}, "Choose the zone"),
    # The API's own check, as on the machine page and in POST /api/v1/machines/<id>/set-zone/.
    ({"action": "set-zone", "system_ids": ["x"], "target_zone": "nowhere"},
     "zone: Object with name=nowhere does not exist."),
    ({"action": "deploy", "system_ids": ["x"], "distro": "debian/"}, "Unknown release"),
    ({"action": "release", "system_ids": ["x"], "erase": "shred"}, "Unknown erase option"),
])
def test_a_bad_request_goes_back_to_the_list_saying_why(client, admin, data, message):
    response = login(client, admin).post(ACTION, data, follow=True)
    assert response.redirect_chain[-1][0] == "/machines/"
    assert message in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_bulk_commission_of_ready_fake_machines_commissions_them(client, admin, sent):
    RackControllerFactory(name="r1", status="running")
    machines = [MachineFactory(status=NodeStatus.READY, power_type="fake") for _ in range(3)]
    ids = [m.system_id for m in machines]
    response = login(client, admin).post(CONFIRM, {"action": "commission", "system_ids": ids})
    assert outcomes(response) == dict.fromkeys(ids, "done")
    assert "3 of 3 done" in response.content.decode()
    assert set(Machine.objects.values_list("status", flat=True)) == {NodeStatus.COMMISSIONING}
    assert sorted(m["args"][0]["system_id"] for m in sent) == sorted(ids)
    assert {m["queue"] for m in sent} == {"rack.r1"}


def test_a_disallowed_action_is_that_machines_error_and_changes_nothing(client, admin,
                                                                         power_requests):
    ready = MachineFactory(status=NodeStatus.READY)
    deployed = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin)
    response = login(client, admin).post(CONFIRM, {
        "action": "commission", "system_ids": [ready.system_id, deployed.system_id]})
    result = outcomes(response)
    assert result[ready.system_id] == "done"
    assert result[deployed.system_id].startswith(
        f"Cannot commission machine {deployed.system_id}: it is Deployed.")
    deployed.refresh_from_db()
    assert deployed.status == NodeStatus.DEPLOYED
    assert not deployed.events.exists()
    assert power_requests == [(ready.system_id, "on")]


def test_a_user_is_not_offered_admin_actions(client, user, admin):
    MachineFactory(status=NodeStatus.READY)
    html = login(client, user).get(LIST).content.decode()
    offered = re.findall(r'<option value="([a-z-]+)">', html[html.index('name="action"'):])
    for name in ("delete", "set-zone", "set-pool", "commission", "test", "mark-fixed"):
        assert name not in offered
    for name in ("deploy", "release", "abort", "mark-broken", "lock", "unlock"):
        assert name in offered
    client.force_login(admin)
    html = client.get(LIST).content.decode()
    assert '<option value="delete">Delete</option>' in html


def test_a_forged_delete_by_a_user_is_refused_for_each_machine(client, user):
    machines = [MachineFactory(status=NodeStatus.READY),
                MachineFactory(status=NodeStatus.ALLOCATED, owner=user)]
    ids = [m.system_id for m in machines]
    response = login(client, user).post(CONFIRM, {"action": "delete", "system_ids": ids})
    assert outcomes(response) == {
        system_id: f"You do not have permission to delete machine {system_id}."
        for system_id in ids}
    assert Machine.objects.count() == 2


def test_a_user_deploys_a_ready_machine_which_allocates_it_first(client, user, power_requests):
    deployable_resource(os="debian", series="bookworm")
    machine = MachineFactory(status=NodeStatus.READY, power_type="fake")
    login(client, user)
    html = client.get(LIST).content.decode()
    assert '<option value="debian/bookworm">' in html
    response = client.post(CONFIRM, {"action": "deploy", "system_ids": [machine.system_id],
                                     "distro": "debian/bookworm"})
    assert outcomes(response) == {machine.system_id: "done"}
    machine.refresh_from_db()
    assert (machine.status, machine.owner, machine.osystem, machine.distro_series) == (
        NodeStatus.DEPLOYING, user, "debian", "bookworm")


def test_a_release_with_quick_erase_starts_erasing(client, admin, power_requests):
    machine = MachineFactory(status=NodeStatus.DEPLOYED, owner=admin, power_type="fake")
    response = login(client, admin).post(CONFIRM, {
        "action": "release", "system_ids": [machine.system_id], "erase": "quick"})
    assert outcomes(response) == {machine.system_id: "done"}
    machine.refresh_from_db()
    assert machine.status == NodeStatus.DISK_ERASING
    assert "erase (quick)" in machine.events.get(type="release").description


def test_set_zone_moves_the_machines(client, admin):
    zone = ZoneFactory(name="row-9")
    machine = MachineFactory(status=NodeStatus.DEPLOYED)
    response = login(client, admin).post(CONFIRM, {
        "action": "set-zone", "system_ids": [machine.system_id], "target_zone": "row-9"})
    assert outcomes(response) == {machine.system_id: "done"}
    machine.refresh_from_db()
    assert machine.zone == zone


def test_an_admin_deletes_machines(client, admin):
    machine = MachineFactory(status=NodeStatus.READY)
    response = login(client, admin).post(CONFIRM, {"action": "delete",
                                                   "system_ids": [machine.system_id]})
    assert outcomes(response) == {machine.system_id: "done"}
    assert not Machine.objects.exists()


@pytest.mark.parametrize("url", [ACTION, CONFIRM])
def test_bulk_posts_need_the_csrf_token(admin, url):
    machine = MachineFactory(status=NodeStatus.READY)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(url, {"action": "delete", "system_ids": [machine.system_id]})
    assert response.status_code == 403
    assert Machine.objects.filter(pk=machine.pk).exists()


def test_the_bulk_forms_carry_the_csrf_token(admin):
    machine = MachineFactory(status=NodeStatus.READY)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    page = client.get(LIST)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    confirm = client.post(ACTION, {"action": "delete", "system_ids": [machine.system_id],
                                   "csrfmiddlewaretoken": token})
    assert confirm.status_code == 200 and 'id="bulk-confirm"' in confirm.content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.content.decode())[1]
    done = client.post(CONFIRM, {"action": "delete", "system_ids": [machine.system_id],
                                 "csrfmiddlewaretoken": token})
    assert outcomes(done) == {machine.system_id: "done"}
