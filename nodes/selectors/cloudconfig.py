"""The cloud-init configuration the deploy writes into a deployed OS (`/etc/cloud/cloud.cfg.d/`),
as MAAS's curtin does: the MAAS datasource and the webhook reporter, both signed with the OS's
credential (from deploy to release), and the machine's network from the region."""
from nodes.models import Machine
from nodes.selectors.netconfig import machine_network_config
from nodes.services.tokens import os_credentials, os_token_active

FILE_NAME = "90_metal.cfg"


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
