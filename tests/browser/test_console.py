"""The operator's console in headless Chromium: log in, list and filter machines, bulk actions
with their confirmation and results, live status updates, the machine page, permissions, and
the racks, subnets and images pages. Each test saves a screenshot of the page it exercises."""
from datetime import timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from nodes.choices import NodeStatus
from nodes.models import BootResourceFile, Event, Machine, PendingPowerRequest
from nodes.services.events import event_record
from nodes.services.lifecycle import machine_finish
from nodes.services.power import power_result_record
from tests.browser.conftest import login, page_loaded, screenshot, wait
from tests.factories import (
    AdminFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    RackControllerFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    SubnetFactory,
    UserFactory,
    VLANFactory,
)
from tests.nodes.bootresource_factories import BootResourceFactory

ROWS = "table#machine-list tr[data-system-id]"


def css(driver, selector: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def listed(driver) -> set[str]:
    """System ids of the machine list's rows."""
    return {row.get_attribute("data-system-id") for row in css(driver, ROWS)}


def row_status(driver, system_id: str) -> str:
    return driver.find_element(
        By.CSS_SELECTOR, f"tr[data-system-id='{system_id}'] td.status .status").text.strip()


def row_power(driver, system_id: str) -> str:
    return driver.find_element(
        By.CSS_SELECTOR, f"tr[data-system-id='{system_id}'] td.power").text.strip()


def open_list(driver, live_server, query: str = "") -> None:
    driver.get(f"{live_server.url}/machines/{query}")
    page_loaded(driver, "/machines/")
    wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "table#machine-list")))


def submit_filters(driver) -> None:
    """Submit the list's filter form (the one holding input[name=q]) and wait for the reload."""
    old = driver.find_element(By.CSS_SELECTOR, "table#machine-list")
    driver.find_element(By.CSS_SELECTOR, "input[name=q]").submit()
    wait(driver, ec.staleness_of(old), message="the filter form did not reload the list")
    page_loaded(driver, "/machines/")


def bulk_run(driver, system_ids: list[str], action: str) -> None:
    """Tick the machines, choose the action, submit, then confirm on the confirmation page."""
    for system_id in system_ids:
        box = driver.find_element(
            By.CSS_SELECTOR, f"input[name=system_ids][value='{system_id}']")
        if not box.is_selected():
            box.click()
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=action]")).select_by_value(action)
    driver.find_element(By.ID, "bulk-submit").click()
    wait(driver, ec.element_to_be_clickable((By.ID, "bulk-confirm")),
         message="no confirmation page (#bulk-confirm)")


def outcomes(driver) -> dict[str, str]:
    """The results page: system id of each row -> its td.outcome text."""
    wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "table#bulk-results")),
         message="no results page (table#bulk-results)")
    return {row.get_attribute("data-system-id"):
            row.find_element(By.CSS_SELECTOR, "td.outcome").text.strip()
            for row in css(driver, "table#bulk-results tr[data-system-id]")}


def test_login_rejects_a_wrong_password_then_lands_on_the_list_and_logs_out(browser, live_server):
    admin = AdminFactory(username="ops")
    login(browser, live_server, admin, password="wrong")
    error = wait(browser, ec.visibility_of_element_located(
        (By.CSS_SELECTOR, "ul.messages .error")))
    assert "did not match" in error.text
    screenshot(browser, "login-error")
    login(browser, live_server, admin)
    page_loaded(browser, "/machines/")
    assert "ops" in browser.find_element(By.CSS_SELECTOR, "header.top .who").text
    screenshot(browser, "machines-after-login")
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button").click()
    page_loaded(browser, "/login/")
    browser.get(f"{live_server.url}/machines/")
    page_loaded(browser, "/login/")  # the session is gone: back to the form


def test_machine_list_filters_by_status_group_and_searches(browser, live_server):
    ready = MachineFactory(hostname="alpha-ready", status=NodeStatus.READY)
    failed = MachineFactory(hostname="bravo-failed", status=NodeStatus.FAILED_COMMISSIONING)
    deployed = MachineFactory(hostname="charlie-deployed", status=NodeStatus.DEPLOYED)
    nic = InterfaceFactory(machine=deployed, mac_address="52:54:00:ab:cd:ef")
    login(browser, live_server, AdminFactory())
    open_list(browser, live_server)
    assert listed(browser) == {ready.system_id, failed.system_id, deployed.system_id}
    assert row_status(browser, failed.system_id) == "Failed commissioning"
    assert css(browser, f"tr[data-system-id='{ready.system_id}'] td.power")
    screenshot(browser, "machine-list")

    Select(browser.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value(
        "failed")
    submit_filters(browser)
    assert listed(browser) == {failed.system_id}
    screenshot(browser, "machine-list-failed")

    Select(browser.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value("")
    for query, expected in (("charlie", deployed), (nic.mac_address, deployed),
                            (ready.system_id, ready)):
        search = browser.find_element(By.CSS_SELECTOR, "input[name=q]")
        search.clear()
        search.send_keys(query)
        submit_filters(browser)
        assert listed(browser) == {expected.system_id}, query
    screenshot(browser, "machine-list-search")


def test_bulk_commission_then_the_list_follows_status_without_reloading(
        browser, live_server, sent):
    RackControllerFactory(name="rack-a", status="running")
    machines = [MachineFactory(hostname=f"node-{n}", status=NodeStatus.READY, power_type="fake")
                for n in range(3)]
    bystander = MachineFactory(hostname="bystander", status=NodeStatus.READY, power_type="fake")
    login(browser, live_server, AdminFactory())
    open_list(browser, live_server)
    chosen = [m.system_id for m in machines]
    bulk_run(browser, chosen, "commission")
    confirmation = browser.find_element(By.TAG_NAME, "main").text
    assert all(m.hostname in confirmation for m in machines), confirmation
    assert bystander.hostname not in confirmation
    screenshot(browser, "bulk-confirm")

    browser.find_element(By.ID, "bulk-confirm").click()
    assert outcomes(browser) == dict.fromkeys(chosen, "done")
    assert "3 of 3 done" in browser.find_element(By.TAG_NAME, "h1").text
    # One netboot power request per machine, to the healthy rack's queue.
    assert sorted(message["queue"] for message in sent) == ["rack.rack-a"] * 3
    screenshot(browser, "bulk-results")

    browser.find_element(By.LINK_TEXT, "Back to the machines").click()
    page_loaded(browser, "/machines/")
    for system_id in chosen:
        assert row_status(browser, system_id) == "Commissioning"
    assert row_status(browser, bystander.system_id) == "Ready"
    browser.execute_script("window.__marker = 1;")
    machine_finish(chosen[0], success=True)
    machine_finish(chosen[1], success=False, reason="scripts failed")
    # The rack reports the third machine's netboot power on.
    pending = PendingPowerRequest.objects.get(system_id=chosen[2])
    power_result_record(system_id=chosen[2], action="on", purpose="job", state="on",
                        rack="rack.rack-a", request_id=pending.request_id)
    wait(browser, lambda d: row_status(d, chosen[0]) == "Ready"
         and row_status(d, chosen[1]) == "Failed commissioning"
         and row_power(d, chosen[2]) == "on", timeout=12,
         message="the list did not show the new statuses and power state within 12 s")
    assert browser.execute_script("return window.__marker") == 1, "the page was reloaded"
    assert row_status(browser, chosen[2]) == "Commissioning"
    screenshot(browser, "machine-list-live")


def test_machine_page_shows_script_output_and_the_boot_timeline(browser, live_server):
    machine = MachineFactory(hostname="delta", status=NodeStatus.READY)
    script_set = ScriptSetFactory(machine=machine, result_type="commissioning")
    result = ScriptResultFactory(script_set=script_set, script_name="20-lshw", status="passed",
                                 exit_status=0, stdout=b"lshw: 4 CPUs, 8 GiB\nall good\n")
    # A commissioning boot as the rack and the region record it (bootsvc, zones.api.rack_api).
    boot = (("job_started", "commissioning job: netbooting the machine"),
            ("dhcp_discover", "DHCPDISCOVER (BIOS)"), ("dhcp_ack", "DHCPACK 10.77.0.120"),
            ("tftp_file", "lpxelinux.0"), ("boot_decision", "commission: ephemeral pxelinux"),
            ("http_file", "boot-kernel"), ("job_finished", "commissioning finished"))
    start = timezone.now() - timedelta(minutes=5)
    for (event_type, text), second in zip(boot, (0, 38, 39, 40, 41, 44, 170), strict=True):
        event = event_record(machine=machine, type=event_type, description=text)
        Event.objects.filter(pk=event.pk).update(created=start + timedelta(seconds=second))
    login(browser, live_server, AdminFactory())
    browser.get(f"{live_server.url}/machine/{machine.system_id}/")
    page_loaded(browser, f"/machine/{machine.system_id}/")
    steps = css(browser, "#boot-timeline .timeline-step")
    timeline = "\n".join(step.text for step in steps)
    assert [step.get_attribute("data-type") for step in steps] == [t for t, _ in boot], timeline
    for _type, text in boot:
        assert text in timeline, (text, timeline)
    # Each step lasts until the next: the job started 38 s before the first DHCP request.
    assert "38" in steps[0].find_element(By.CSS_SELECTOR, ".dur").text, timeline
    screenshot(browser, "machine-page")

    link = browser.find_element(By.CSS_SELECTOR, "table#results a.output")
    assert result.script_name in link.find_element(By.XPATH, "./ancestor::tr").text
    link.click()
    stdout = wait(browser, ec.visibility_of_element_located((By.CSS_SELECTOR, "pre#stdout")))
    assert "lshw: 4 CPUs, 8 GiB" in stdout.text
    screenshot(browser, "script-output")


def test_a_user_sees_no_admin_actions(browser, live_server):
    user = UserFactory(username="plain")
    machine = MachineFactory(hostname="echo", status=NodeStatus.READY)
    login(browser, live_server, user)
    open_list(browser, live_server)
    assert machine.system_id in listed(browser)
    header = browser.find_element(By.CSS_SELECTOR, "header.top").text
    assert "Admin" not in header.split(), header
    actions = [o.get_attribute("value") for o in css(browser, "select[name=action] option")]
    assert "deploy" in actions and "delete" not in actions and "set-zone" not in actions, actions
    screenshot(browser, "machine-list-user")

    browser.get(f"{live_server.url}/machine/{machine.system_id}/")
    page_loaded(browser, f"/machine/{machine.system_id}/")
    page_actions = css(browser, "#machine-actions")
    assert page_actions, "no #machine-actions on the machine page"
    names = " ".join(
        f"{el.get_attribute('value')} {el.text}".lower()
        for el in css(browser, "#machine-actions button, #machine-actions option,"
                               " #machine-actions input[type=submit]"))
    assert "deploy" in names, names
    assert "delete" not in names and "set-zone" not in names and "set zone" not in names, names
    screenshot(browser, "machine-page-user")


def test_a_refused_bulk_action_shows_its_error(browser, live_server, sent):
    machine = MachineFactory(hostname="foxtrot", status=NodeStatus.READY, power_type="fake")
    login(browser, live_server, AdminFactory())
    open_list(browser, live_server)
    bulk_run(browser, [machine.system_id], "release")
    browser.find_element(By.ID, "bulk-confirm").click()
    text = outcomes(browser)[machine.system_id]
    assert text.startswith(f"Cannot release machine {machine.system_id}: it is Ready"), text
    assert sent == []
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY
    screenshot(browser, "bulk-error")

    # The machine page, opened while the machine was Ready; someone deploys it meanwhile.
    browser.get(f"{live_server.url}/machine/{machine.system_id}/")
    page_loaded(browser, f"/machine/{machine.system_id}/")
    Machine.objects.filter(pk=machine.pk).update(status=NodeStatus.DEPLOYED)
    browser.find_element(By.CSS_SELECTOR, "#machine-actions button[value=commission]").click()
    error = wait(browser, ec.visibility_of_element_located(
        (By.CSS_SELECTOR, "ul.messages .error")), message="no error message")
    assert f"Cannot commission machine {machine.system_id}: it is Deployed" in error.text
    assert sent == []
    screenshot(browser, "machine-page-error")


def a_small_site() -> None:
    """What the racks, subnets and images pages show: a running rack serving a VLAN whose
    subnet has a dynamic range, a dead one, and a boot image with its kernel and initrd."""
    running = RackControllerFactory(
        name="rack-1", status="running", last_heartbeat=timezone.now(), version="1.0",
        services={"bootsvc": "running", "worker": "running", "imagecache": "running",
                  "dhcp": "running", "tftp": "running", "http": "running"},
        image_sync={"state": "synced", "files_done": 2, "files_total": 2,
                    "bytes_done": 84_000_000, "bytes_total": 84_000_000})
    RackControllerFactory(name="rack-2", status="dead",
                          last_heartbeat=timezone.now() - timedelta(hours=2))
    RackControllerFactory(
        name="rack-3", status="degraded", last_heartbeat=timezone.now(),
        services={"bootsvc": "running", "worker": "running", "dhcp": "off", "tftp": "failed",
                  "http": "running"},
        service_reasons={"tftp": "cannot listen on UDP 0.0.0.0:69: Address already in use",
                         "dhcp": "no VLAN with DHCP on has this rack as its active rack"})
    vlan = VLANFactory(vid=10, name="provisioning", primary_rack=running, dhcp_on=True)
    IPRangeFactory(subnet=SubnetFactory(cidr="10.77.0.0/24", vlan=vlan))
    noble = BootResourceFactory(name="ubuntu/noble", os="ubuntu", series="noble")
    for filetype, size in (("kernel", 14_000_000), ("initrd", 70_000_000)):
        BootResourceFile.objects.create(resource=noble, filetype=filetype, size=size,
                                        path=f"ubuntu/amd64/noble/{filetype}", sha256="a" * 64)


@pytest.mark.parametrize(("path", "table", "text"), [
    ("/racks/", "racks", "TFTP: failed\ncannot listen on UDP 0.0.0.0:69"),
    ("/subnets/", "subnets", "10.77.0.0/24"),
    ("/images/", "images", "ubuntu/noble"),
])
def test_racks_subnets_and_images_pages_render(browser, live_server, path, table, text):
    a_small_site()
    login(browser, live_server, AdminFactory())
    browser.get(live_server.url + path)
    page_loaded(browser, path)
    grid = wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, f"table#{table}")),
                message=f"no table#{table} on {path}")
    assert text in grid.text, grid.text
    screenshot(browser, table)
