"""Django admin: secrets hidden, status read-only, lifecycle actions go through services."""
import pytest
from django.contrib.messages import get_messages
from django.test import Client

from nodes.choices import NodeStatus
from nodes.models import ApiKey, Event, InterfaceLink, Machine
from nodes.services.accounts import apikey_create
from tests.factories import (
    AdminFactory,
    BlockDeviceFactory,
    InterfaceFactory,
    MachineFactory,
    SubnetFactory,
    TagFactory,
    UserFactory,
    commissioning_passed,
)
from zones.models import ResourcePool, StaticIPAddress, Zone

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value"
CHANGELIST = "/admin/nodes/machine/"


@pytest.fixture
def site() -> Client:
    client = Client()
    client.force_login(AdminFactory())
    return client


@pytest.fixture
def machine():
    machine = MachineFactory(
        power_type="ipmi",
        power_parameters={"power_address": "10.0.0.9", "power_user": "admin",
                          "power_pass": SECRET},
    )
    InterfaceFactory(machine=machine, mac_address="52:54:00:aa:bb:cc")
    BlockDeviceFactory(machine=machine)
    return machine


def run_action(site: Client, action: str, *machines: Machine):
    return site.post(
        CHANGELIST,
        {"action": action, "_selected_action": [m.pk for m in machines]},
        follow=True,
    )


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_changelist_hides_power_secret(site, machine):
    response = site.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert machine.hostname in html and machine.system_id in html
    assert SECRET not in html


def test_change_page_hides_power_secret(site, machine):
    response = site.get(f"{CHANGELIST}{machine.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert SECRET not in html
    assert "power_parameters" not in html
    assert "52:54:00:aa:bb:cc" in html  # the interfaces inline


def test_status_is_read_only(site, machine):
    form = site.get(f"{CHANGELIST}{machine.pk}/change/").context["adminform"].form
    assert "status" not in form.fields
    assert "power_parameters" not in form.fields


def test_search_by_mac_in_any_format(site, machine):
    MachineFactory()
    for term in ("52:54:00:aa:bb:cc", "52-54-00-AA-BB-CC", machine.system_id, machine.hostname):
        response = site.get(CHANGELIST, {"q": term})
        assert list(response.context["cl"].result_list) == [machine], term


def test_edit_goes_through_the_service_and_keeps_secrets(site, machine):
    tag = TagFactory()
    page = site.get(f"{CHANGELIST}{machine.pk}/change/")
    data = {
        name: value for name, value in page.context["adminform"].form.initial.items()
        if name in page.context["adminform"].form.fields and value is not None
    }
    data.update(description="rack 4", tags=[tag.pk], zone=machine.zone_id, pool=machine.pool_id)
    for prefix in ("interfaces", "block_devices"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    response = site.post(f"{CHANGELIST}{machine.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    machine.refresh_from_db()
    assert machine.description == "rack 4"
    assert list(machine.tags.all()) == [tag]
    assert machine.power_parameters["power_pass"] == SECRET
    assert Event.objects.filter(machine=machine, type="updated").exists()


def test_commission_action(site, machine):
    response = run_action(site, "action_commission", machine)
    assert response.status_code == 200
    machine.refresh_from_db()
    assert machine.status == NodeStatus.COMMISSIONING
    event = Event.objects.get(machine=machine, type="commission")
    assert event.user is not None
    assert any("Commission" in text for text in texts(response))


def test_disallowed_action_reports_error_and_changes_nothing(site, machine):
    response = run_action(site, "action_mark_fixed", machine)
    assert response.status_code == 200
    machine.refresh_from_db()
    assert machine.status == NodeStatus.NEW
    assert not Event.objects.filter(machine=machine).exists()
    assert any("Cannot mark-fixed" in text for text in texts(response))


def test_mixed_action_reports_each(site, machine):
    broken = commissioning_passed(MachineFactory(status=NodeStatus.BROKEN))
    response = run_action(site, "action_mark_fixed", machine, broken)
    broken.refresh_from_db()
    machine.refresh_from_db()
    assert broken.status != NodeStatus.BROKEN
    assert machine.status == NodeStatus.NEW
    messages = texts(response)
    assert any("Cannot mark-fixed" in text for text in messages)
    assert any(broken.hostname in text for text in messages)


def test_lock_and_unlock_actions(site):
    deployed = MachineFactory(status=NodeStatus.DEPLOYED)
    run_action(site, "action_lock", deployed)
    deployed.refresh_from_db()
    assert deployed.locked
    run_action(site, "action_unlock", deployed)
    deployed.refresh_from_db()
    assert not deployed.locked


def test_non_admin_staff_cannot_use_machine_admin(machine):
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(f"{CHANGELIST}{machine.pk}/change/").status_code in (302, 403)


def test_other_pages_render(site, machine):
    Event.objects.create(machine=machine, hostname=machine.hostname, type="x")
    for url in ("/admin/nodes/interface/", "/admin/nodes/blockdevice/", "/admin/nodes/tag/",
                "/admin/nodes/event/", "/admin/nodes/apikey/", f"{CHANGELIST}add/"):
        response = site.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode(), url


def test_events_are_read_only(site, machine):
    event = Event.objects.create(machine=machine, hostname=machine.hostname, type="x")
    assert site.get("/admin/nodes/event/add/").status_code == 403
    assert site.get(f"/admin/nodes/event/{event.pk}/delete/").status_code == 403
    page = site.get(f"/admin/nodes/event/{event.pk}/change/")
    assert page.status_code == 200
    assert site.post(f"/admin/nodes/event/{event.pk}/change/", {"type": "y"}).status_code == 403
    event.refresh_from_db()
    assert event.type == "x"


def test_api_keys_never_show_the_secret_or_hash(site):
    key, full = apikey_create(UserFactory(), "ci")
    secret = full.split(":")[2]
    for url in ("/admin/nodes/apikey/", f"/admin/nodes/apikey/{key.pk}/change/"):
        html = site.get(url).content.decode()
        assert key.token_key in html, url
        assert secret not in html and key.secret_hash not in html, url
    assert site.get("/admin/nodes/apikey/add/").status_code == 403


def test_api_key_revoked_from_admin(site):
    key, _ = apikey_create(UserFactory())
    response = site.post(f"/admin/nodes/apikey/{key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert Event.objects.filter(type="apikey_revoked").exists()


def test_add_goes_through_the_service(site):
    page = site.get(f"{CHANGELIST}add/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(hostname="from-admin", architecture="amd64/generic", cpu_count=2, cpu_speed=0,
                memory=1024, power_type="manual", zone=Zone.default_id(),
                pool=ResourcePool.default_id())
    for prefix in ("interfaces", "block_devices"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    response = site.post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    machine = Machine.objects.get(hostname="from-admin")
    assert machine.status == NodeStatus.NEW
    assert Event.objects.filter(machine=machine, type="created").exists()


def test_interface_page_shows_its_links_read_only(site):
    from nodes.models import InterfaceLink
    from tests.factories import StaticIPAddressFactory

    nic = InterfaceFactory()
    static = StaticIPAddressFactory(interface=nic)
    InterfaceLink.objects.create(interface=nic, subnet=static.subnet, mode="static",
                                 address=static)
    page = site.get(f"/admin/nodes/interface/{nic.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Interface links" in body and f"static {static.subnet.cidr} {static.ip}" in body
    assert 'name="links-0-mode"' not in body  # shown, not editable


def test_change_page_shows_each_interface_s_links_and_addresses(site, machine):
    """The AUTO address a deploy allocated is on the machine's page, as in the API."""
    interface = InterfaceFactory(machine=machine, name="eth0")
    subnet = SubnetFactory(cidr="10.40.0.0/24")
    link = InterfaceLink.objects.create(interface=interface, mode="auto", subnet=subnet)
    page = site.get(f"{CHANGELIST}{machine.pk}/change/").content.decode()
    assert "auto: - (10.40.0.0/24)" in page
    link.address = StaticIPAddress.objects.create(ip="10.40.0.7", subnet=subnet,
                                                  alloc_type="auto", interface=interface)
    link.save()
    assert "auto: 10.40.0.7 (10.40.0.0/24)" in \
        site.get(f"{CHANGELIST}{machine.pk}/change/").content.decode()


def test_machines_are_addressed_by_system_id_and_show_their_events(site, machine):
    Event.objects.create(machine=machine, hostname=machine.hostname, type="power_on",
                         description="Power on done via rack-1")
    listing = site.get(CHANGELIST).content.decode()
    assert f'href="/admin/nodes/machine/{machine.system_id}/change/"' in listing
    page = site.get(f"{CHANGELIST}{machine.system_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="machine-events"' in html and "Power on done via rack-1" in html
    assert site.get(f"{CHANGELIST}{machine.pk}/change/").status_code == 200
    assert site.get(f"{CHANGELIST}{machine.system_id}/history/").status_code == 200
