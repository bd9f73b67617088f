"""The metadata service at /MAAS/metadata/, with Debian's cloud-init as the client: its MAAS
datasource reads meta-data and user-data, its webhook reporter ends the deployment."""
import subprocess
from pathlib import Path

import pytest
import requests

from nodes.choices import NodeStatus
from nodes.models import Event, Machine, SSHKey
from nodes.services.tokens import os_credentials, os_token_issue, os_token_revoke
from tests.factories import MachineFactory, UserFactory
from tests.maasapi.cloudinit_peer import cloudinit  # noqa: F401 - a fixture of these tests

pytestmark = pytest.mark.django_db(transaction=True)
USER_DATA = "#!/bin/sh\necho hello from user data\n"
SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnB2rqbYBY4Ty0T6/8bUKv8jHe5wWbV7KxI+yG2G3Jw "
           "owner@host")


@pytest.fixture
def deploying():
    owner = UserFactory()
    SSHKey.objects.create(user=owner, key=SSH_KEY)
    machine = MachineFactory(status=NodeStatus.DEPLOYING, owner=owner, user_data=USER_DATA,
                             hostname="web-1")
    machine.credentials = os_credentials(os_token_issue(machine))
    return machine


def oauth(cloudinit, credentials):  # noqa: F811 - the fixture, passed on
    from cloudinit import url_helper  # noqa: PLC0415 - importable once unpacked

    return url_helper.OauthUrlHelper(consumer_key=credentials["consumer_key"],
                                     token_key=credentials["token_key"],
                                     token_secret=credentials["token_secret"],
                                     consumer_secret="")


def seed(cloudinit, live_server, credentials):  # noqa: F811
    from cloudinit.sources import DataSourceMAAS  # noqa: PLC0415

    return DataSourceMAAS.read_maas_seed_url(
        f"{live_server.url}/MAAS/metadata/", read_file_or_url=oauth(
            cloudinit, credentials).readurl, timeout=10, retries=0)


def report(cloudinit, live_server, machine, credentials, event):  # noqa: F811
    from cloudinit.reporting.handlers import WebHookHandler  # noqa: PLC0415

    handler = WebHookHandler(f"{live_server.url}/MAAS/metadata/status/{machine.system_id}",
                             timeout=10, retries=0, consumer_secret="", **credentials)
    handler.publish_event(event)
    handler.flush()


def test_the_maas_datasource_reads_the_machines_meta_data_and_user_data(
        cloudinit, live_server, deploying):  # noqa: F811
    user_data, meta_data, _vendor_data = seed(cloudinit, live_server, deploying.credentials)
    assert meta_data["instance-id"] == deploying.system_id
    assert meta_data["local-hostname"] == "web-1"
    assert SSH_KEY in meta_data["public-keys"]
    assert user_data == USER_DATA.encode()


def test_the_final_stage_finishing_makes_the_machine_deployed(
        cloudinit, live_server, deploying):  # noqa: F811
    from cloudinit.reporting import events  # noqa: PLC0415

    report(cloudinit, live_server, deploying, deploying.credentials,
           events.ReportingEvent("start", "modules-final", "running modules for final"))
    deploying.refresh_from_db()
    assert deploying.status == NodeStatus.DEPLOYING
    report(cloudinit, live_server, deploying, deploying.credentials,
           events.FinishReportingEvent("modules-final", "running modules for final",
                                       events.status.SUCCESS))
    deploying.refresh_from_db()
    assert deploying.status == NodeStatus.DEPLOYED
    seen = list(Event.objects.filter(machine=deploying, type="cloudinit").order_by("pk")
                .values_list("description", flat=True))
    assert seen == ["cloud-init start modules-final: running modules for final",
                    "cloud-init finish modules-final SUCCESS: running modules for final"]
    # The deployed OS keeps its credentials until release (cloud-init reads at every boot).
    assert seed(cloudinit, live_server, deploying.credentials)[1]["local-hostname"] == "web-1"


def test_a_failed_module_fails_the_deployment_with_cloud_inits_message(
        cloudinit, live_server, deploying):  # noqa: F811
    from cloudinit.reporting import events  # noqa: PLC0415

    report(cloudinit, live_server, deploying, deploying.credentials, events.FinishReportingEvent(
        "modules-final/config-scripts-user", "running config-scripts-user with frequency "
        "once-per-instance", events.status.FAIL))
    deploying.refresh_from_db()
    assert deploying.status == NodeStatus.FAILED_DEPLOYMENT
    assert deploying.error_description == (
        "cloud-init modules-final/config-scripts-user failed: running config-scripts-user "
        "with frequency once-per-instance")


def test_credentials_of_another_machine_released_ones_and_none_are_refused(
        cloudinit, live_server, deploying):  # noqa: F811
    from cloudinit import url_helper  # noqa: PLC0415

    other = MachineFactory(status=NodeStatus.DEPLOYING)
    theirs = os_credentials(os_token_issue(other))
    status_url = f"{live_server.url}/MAAS/metadata/status/{deploying.system_id}"
    answer = oauth(cloudinit, theirs).readurl  # cloud-init's own signing
    with pytest.raises(url_helper.UrlError) as refused:
        answer(status_url, data=b'{"event_type": "start", "name": "init-local"}', retries=0)
    assert refused.value.code == 401
    wrong = dict(deploying.credentials, token_secret="0" * 40)
    released = dict(deploying.credentials)
    os_token_revoke(deploying)
    for credentials in (wrong, released):
        with pytest.raises(url_helper.UrlError) as refused:
            seed(cloudinit, live_server, credentials)
        assert refused.value.code == 401
    unsigned = requests.get(f"{live_server.url}/MAAS/metadata/2012-03-01/meta-data/instance-id",
                            timeout=10)
    assert unsigned.status_code == 401 and "WWW-Authenticate" in unsigned.headers


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event_type": "begin", "name": "x"}',
                                  b'{"event_type": "finish"}'])
def test_a_malformed_report_is_a_400_and_changes_nothing(client, deploying, body):
    from tests.maasapi.conftest import oauth_header  # noqa: PLC0415

    key = ":".join(deploying.credentials[k] for k in ("consumer_key", "token_key",
                                                       "token_secret"))
    answer = client.post(f"/MAAS/metadata/status/{deploying.system_id}", body,
                         content_type="application/json", HTTP_AUTHORIZATION=oauth_header(key))
    assert answer.status_code == 400, answer.content
    deploying.refresh_from_db()
    assert deploying.status == NodeStatus.DEPLOYING


def test_the_deploys_cloud_config_drives_cloud_init_and_its_network_renders(
        cloudinit, live_server, deploying, tmp_path):  # noqa: F811
    """What the deploy writes into /etc/cloud/cloud.cfg.d/: cloud-init's own reporting and
    network code take it (here the eni renderer of Debian's ifupdown)."""
    from cloudinit.net import eni, network_state  # noqa: PLC0415
    from cloudinit.reporting import events, handlers  # noqa: PLC0415

    from nodes.selectors.cloudconfig import deployed_os_cloud_config  # noqa: PLC0415
    from nodes.services import links  # noqa: PLC0415
    from tests.factories import InterfaceFactory, SubnetFactory  # noqa: PLC0415

    eth0 = InterfaceFactory(machine=deploying, name="eth0")
    subnet = SubnetFactory(cidr="10.30.0.0/24", gateway_ip="10.30.0.1", dns_servers=["10.30.0.53"])
    Machine.objects.filter(pk=deploying.pk).update(status=NodeStatus.ALLOCATED)  # links: before
    links.interface_link_subnet(eth0, None, mode="STATIC", subnet=subnet, ip_address="10.30.0.7")
    Machine.objects.filter(pk=deploying.pk).update(status=NodeStatus.DEPLOYING)
    document = deployed_os_cloud_config(deploying, live_server.url)
    reporter = dict(document["reporting"]["maas"])
    handler = handlers.available_handlers.registered_items[reporter.pop("type")](**reporter)
    handler.publish_event(events.FinishReportingEvent("modules-final", "final",
                                                      events.status.SUCCESS))
    handler.flush()
    deploying.refresh_from_db()
    assert deploying.status == NodeStatus.DEPLOYED
    state = network_state.parse_net_config_data(document["network"])
    eni.Renderer().render_network_state(state, target=str(tmp_path))
    rendered = (tmp_path / "etc/network/interfaces").read_text()
    for line in ("iface eth0 inet static", "address 10.30.0.7/24", "gateway 10.30.0.1",
                 "dns-nameservers 10.30.0.53"):
        assert line in rendered, rendered


def test_cloud_init_s_generator_finds_the_maas_datasource_in_the_written_file(
        cloudinit, live_server, deploying, tmp_path):  # noqa: F811
    """Debian's ds-identify (run by cloud-init's systemd generator: no datasource found, no
    cloud-init at all) reads the file the deploy writes with its line parser."""
    from nodes.selectors.cloudconfig import (  # noqa: PLC0415
        cloud_config_yaml,
        deployed_os_cloud_config,
    )

    ds_identify = Path(cloudinit.__file__).parents[5] / "usr/lib/cloud-init/ds-identify"
    config = tmp_path / "etc/cloud/cloud.cfg.d/90_metal_maas.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(cloud_config_yaml(deployed_os_cloud_config(deploying, live_server.url)))
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cmdline").write_text("BOOT_IMAGE=/boot/vmlinuz ro\n")
    done = subprocess.run(["sh", str(ds_identify), "--force"], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PATH_ROOT": str(tmp_path)},
                          timeout=60, check=False)
    assert done.returncode == 0, (tmp_path / "run/cloud-init/ds-identify.log").read_text()
    assert (tmp_path / "run/cloud-init/cloud.cfg").read_text().startswith(
        "datasource_list: [ MAAS, None ]")
