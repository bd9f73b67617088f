"""The racks and subnets pages: login, what they show, address counts, fixed query counts."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import (
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    RackControllerFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from zones.models import DHCPLease, Subnet
from zones.selectors import subnet_usage

pytestmark = pytest.mark.django_db


def row(html: str, attribute: str, value: str) -> str:
    """The HTML of the table row whose data-<attribute> is value."""
    match = re.search(rf'<tr data-{attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert match, f"no row data-{attribute}={value}"
    return match.group(1)


def page(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("url", ["/racks/", "/subnets/"])
def test_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def _rack(name: str, seconds_ago: int | None, status: str, **fields):
    beat = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    return RackControllerFactory(name=name, status=status, last_heartbeat=beat, **fields)


def test_racks_page_shows_status_services_vlans_and_sync(client, user):
    good = _rack("rack-good", 4, "running",
                 services={"bootsvc": "running", "worker": "running", "imagecache": "running"},
                 image_sync={"bytes_done": 300, "bytes_total": 1200, "files_done": 1,
                             "files_total": 4, "state": "syncing", "error": ""})
    sick = _rack("rack-sick", 3, "degraded",
                 services={"tftp": "failed", "http": "running", "dhcp": "off",
                           "bootsvc": "degraded", "worker": "running"},
                 service_reasons={"bootsvc": "boot loaders missing: bootx64.efi",
                                  "tftp": "cannot listen on UDP 0.0.0.0:69: Permission denied",
                                  "dhcp": "turned off on this rack (--no-dhcp)"})
    _rack("rack-dead", 900, "dead", services={"worker": "running"})
    VLANFactory(vid=10, primary_rack=good, secondary_rack=sick, dhcp_on=True,
                fabric__name="fab-a")
    html = page(client, user, "/racks/")
    assert 'id="racks"' in html

    good_row = row(html, "rack", "rack-good")
    assert re.search(r'class="rack-status"><span class="status status-ready">Running', good_row)
    assert "4 s ago" in good_row and "fab-a.10 (DHCP)" in good_row
    assert re.search(r'class="image-sync syncing">\s*<div class="progress"[^>]*>'
                     r'<span style="width: 25%">', good_row)
    assert "1 of 4 files" in good_row and "300 B of 1.2 KiB" in good_row

    sick_row = row(html, "rack", "rack-sick")
    assert "status-progress" in sick_row and "Degraded" in sick_row
    assert "boot loaders missing: bootx64.efi" in sick_row
    services = re.findall(r'<span class="name">([^<]+)</span>: <span class="(\w+)">', sick_row)
    assert services == [("worker (power)", "running"), ("boot services", "degraded"),
                        ("DHCP", "off"), ("TFTP", "failed"), ("HTTP boot", "running")]
    assert re.search(r'<div class="why failed">cannot listen on UDP 0.0.0.0:69: Permission '
                     r'denied</div>', sick_row)
    assert '<div class="why off">turned off on this rack (--no-dhcp)</div>' in sick_row
    # The status line names what failed, not what is merely off.
    assert ("bootsvc degraded: boot loaders missing: bootx64.efi; tftp failed: cannot listen on "
            "UDP 0.0.0.0:69: Permission denied") in sick_row
    secondary = re.search(r'class="vlans-secondary">(.*?)</td>', sick_row, re.S).group(1)
    assert "fab-a.10" in secondary

    dead_row = row(html, "rack", "rack-dead")
    assert "status-failed" in dead_row and "Dead" in dead_row and "no heartbeat since" in dead_row
    assert "never reported" in dead_row


def test_a_silent_rack_shows_dead_before_the_sweep_marks_it(client, user, settings):
    settings.RACK_DEAD_AFTER = 30
    _rack("rack-late", 120, "running", services={"worker": "running"})
    late = row(page(client, user, "/racks/"), "rack", "rack-late")
    assert "status-failed" in late and "Dead" in late


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_racks_page_queries_do_not_grow_with_racks(client, user):
    client.force_login(user)
    for n in range(10):
        VLANFactory(primary_rack=_rack(f"a{n}", 1, "running", services={"worker": "running"}))
    ten = _count_queries(client, "/racks/")
    for n in range(40):
        VLANFactory(primary_rack=_rack(f"b{n}", 1, "running", services={"worker": "running"}))
    assert _count_queries(client, "/racks/") == ten


def _lease(subnet: Subnet, ip: str, state: str = "active", minutes: int = 60) -> None:
    mac = f"52:54:00:00:00:{int(ip.split('.')[-1]):02x}"
    DHCPLease.objects.create(subnet=subnet, ip=ip, mac=mac, state=state,
                             expires=timezone.now() + timedelta(minutes=minutes))


def known_subnet() -> Subnet:
    """10.9.0.0/24: gateway .1, reserved .2-.9, dynamic .100-.200, statics .10-.12, two active
    leases, one expired and one released: 254 usable, 5 used, 9 reserved, 240 free."""
    subnet = SubnetFactory(cidr="10.9.0.0/24", gateway_ip="10.9.0.1",
                           vlan=VLANFactory(vid=42, fabric__name="fab-k"))
    IPRangeFactory(subnet=subnet, type="reserved", start_ip="10.9.0.2", end_ip="10.9.0.9")
    IPRangeFactory(subnet=subnet, type="dynamic", start_ip="10.9.0.100", end_ip="10.9.0.200")
    for ip in ("10.9.0.10", "10.9.0.11", "10.9.0.12"):
        StaticIPAddressFactory(subnet=subnet, ip=ip)
    _lease(subnet, "10.9.0.100")
    _lease(subnet, "10.9.0.101")
    _lease(subnet, "10.9.0.150", minutes=-5)
    _lease(subnet, "10.9.0.151", state="released")
    return subnet


def test_subnets_page_shows_vlans_ranges_and_usage(client, user):
    rack = _rack("rack-p", 1, "running")
    subnet = known_subnet()
    subnet.vlan.primary_rack, subnet.vlan.dhcp_on = rack, True
    subnet.vlan.save()
    html = page(client, user, "/subnets/")
    assert "<h3>VLANs</h3>" in html and "fab-k" in html and 'id="subnets"' in html
    vlan = row(html, "vlan", "fab-k.42")
    assert "on" in vlan and "rack-p" in vlan
    cells = row(html, "cidr", "10.9.0.0/24")
    assert "10.9.0.1" in cells
    assert "Reserved: 10.9.0.2 – 10.9.0.9" in cells and "Dynamic: 10.9.0.100 – 10.9.0.200" in cells
    assert '<td class="used">5</td>' in cells and '<td class="free">240</td>' in cells
    assert '<span style="width: 6%">' in cells and "of 254 usable" in cells
    assert "IP ranges" in html and 'id="usage-definition"' in html
    assert f'href="/subnets/{subnet.id}/"' in cells  # the console's page, not the API's


def test_usage_counts_an_address_once_and_ignores_addresses_outside():
    subnet = Subnet(cidr="192.168.5.0/29", gateway_ip="192.168.5.1")
    reserved = IPRangeFactory.build(subnet=subnet, type="reserved", start_ip="192.168.5.1",
                                    end_ip="192.168.5.2")
    usage = subnet_usage(subnet, [reserved], ["192.168.5.2", "192.168.5.2", "10.0.0.1"])
    assert (usage.usable, usage.used, usage.reserved, usage.free) == (6, 1, 1, 4)
    assert usage.percent == 34
    v6 = subnet_usage(Subnet(cidr="2001:db8::/64"), [], ["2001:db8::5"])
    assert (v6.usable, v6.used, v6.free) == (2**64 - 1, 1, 2**64 - 2)


def test_subnets_page_queries_do_not_grow_with_subnets(client, user):
    client.force_login(user)

    def make(n: int) -> None:
        subnet = SubnetFactory(vlan=VLANFactory(primary_rack=_rack(f"r{n}", 1, "running")))
        IPRangeFactory(subnet=subnet)
        StaticIPAddressFactory(subnet=subnet)
        _lease(subnet, str(subnet.network[150]))

    for n in range(10):
        make(n)
    ten = _count_queries(client, "/subnets/")
    for n in range(10, 50):
        make(n)
    assert _count_queries(client, "/subnets/") == ten


def test_admin_index_reads_maas_words(client, admin):
    client.force_login(admin)
    html = client.get("/admin/").content.decode()
    for label in ("Static IP addresses", "IP ranges", "VLANs", "DHCP leases", "BMCs"):
        assert f">{label}<" in html, label
    for wrong in ("addresss", "Ip ranges", "Vlans", "Dhcp leases", "Bmcs"):
        assert wrong not in html, wrong


def test_subnet_page_shows_usage_ranges_and_what_the_user_may_see(client, user):
    subnet = known_subnet()
    mine = MachineFactory(hostname="mine", owner=user)
    theirs = MachineFactory(hostname="theirs", owner=UserFactory())
    StaticIPAddressFactory(subnet=subnet, ip="10.9.0.20",
                           interface=InterfaceFactory(machine=mine))
    StaticIPAddressFactory(subnet=subnet, ip="10.9.0.21",
                           interface=InterfaceFactory(machine=theirs))
    html = page(client, user, f"/subnets/{subnet.id}/")
    assert '<dd class="used">7</dd>' in html and '<dd class="free">238</dd>' in html
    assert '<dd class="reserved">9</dd>' in html and 'id="ipranges"' in html
    assert f'href="/machine/{mine.system_id}/">mine</a>' in row(html, "ip", "10.9.0.20")
    assert "10.9.0.21" not in html and "theirs" not in html
    assert 'id="leases"' not in html  # leases are not in the API: admins only


def test_admins_see_the_active_leases(client, admin):
    subnet = known_subnet()
    html = page(client, admin, f"/subnets/{subnet.id}/")
    leases = re.search(r'<table class="grid" id="leases">(.*?)</table>', html, re.S).group(1)
    assert "10.9.0.100" in leases and "10.9.0.101" in leases
    assert "10.9.0.150" not in leases and "10.9.0.151" not in leases


def test_subnet_page_login_404_and_fixed_queries(client, admin):
    subnet = known_subnet()
    assert client.get(f"/subnets/{subnet.id}/").status_code == 302
    client.force_login(admin)
    assert client.get("/subnets/999999/").status_code == 404
    for n in range(10):
        StaticIPAddressFactory(subnet=subnet, ip=f"10.9.0.{30 + n}",
                               interface=InterfaceFactory(machine=MachineFactory()))
    ten = _count_queries(client, f"/subnets/{subnet.id}/")
    for n in range(40):
        StaticIPAddressFactory(subnet=subnet, ip=f"10.9.0.{50 + n}",
                               interface=InterfaceFactory(machine=MachineFactory()))
        _lease(subnet, f"10.9.0.{201 + n}")
    assert _count_queries(client, f"/subnets/{subnet.id}/") == ten
