"""The cloud-init configuration the deploy writes into a deployed OS (`/etc/cloud/cloud.cfg.d/`),
as MAAS's curtin does: the MAAS datasource and the webhook reporter, both signed with the OS's
credential (from deploy to release), and the machine's network from the region."""
import yaml

from nodes.models import Machine
from nodes.selectors.netconfig import machine_network_config
from nodes.services.tokens import os_credentials, os_token_active


def deployed_os_cloud_config(machine: Machine, region_url: str) -> dict | None:
    """The cloud.cfg.d document for the machine's deployed OS, None without a credential (the
    machine is not being deployed)."""
    token = os_token_active(machine)
    if token is None:
        return None
    credentials = os_credentials(token)
    base = region_url.rstrip("/") + "/MAAS/metadata/"
    return {
        "datasource_list": ["MAAS"],
        "datasource": {"MAAS": {"metadata_url": base, "consumer_secret": "", **credentials}},
        "reporting": {"maas": {"type": "webhook", "endpoint": f"{base}status/{machine.system_id}",
                               "consumer_secret": "", **credentials}},
        "network": machine_network_config(machine),
    }


def cloud_config_yaml(document: dict) -> str:
    """The document as the YAML file the runner writes. cloud-init's ds-identify (its systemd
    generator: no datasource found, no cloud-init) reads config with a line parser: the
    datasource list must be one `datasource_list: [MAAS]` line; a single entry is used as is."""
    rest = {key: value for key, value in document.items() if key != "datasource_list"}
    names = ", ".join(document["datasource_list"])
    return (f"datasource_list: [{names}]\n"
            + yaml.safe_dump(rest, default_flow_style=False, sort_keys=False))
