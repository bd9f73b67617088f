"""version/ (anonymous), maas/ (region configuration: get_config, set_config) and domains/
(the one DNS domain machines are named in: this region serves no DNS)."""
from django.http import HttpResponse

from maasapi.errors import BadRequest, NotFound
from maasapi.framework import Handler, operation
from maasapi.objects import DOMAIN
from nodes.services.config import config_get, config_set

CAPABILITIES = ["networks-management", "static-ipaddresses", "ipv6-deployment-ubuntu",
                "devices-management", "storage-deployment-ubuntu",
                "network-deployment-ubuntu", "bridging-interface-ubuntu",
                "bridging-automatic-ubuntu", "authenticate-api"]
VERSION = "3.5.0"  # the MAAS API level these handlers follow; libmaas parses X.Y.Z


class VersionHandler(Handler):
    """Information about this MAAS API server."""

    name = "VersionHandler"
    path = "version/"
    anonymous = True

    def read(self, request, params):
        """Capabilities and version of the API."""
        return {"capabilities": CAPABILITIES, "version": VERSION, "subversion": ""}


class MaasHandler(Handler):
    """Region configuration."""

    name = "MaasHandler"
    path = "maas/"

    @operation(idempotent=True)
    def get_config(self, request, params):
        """Get a configuration value.

        :param name: The name of the configuration item.
        :type name: String
        """
        return config_get(_name(params))

    @operation(idempotent=False)
    def set_config(self, request, params):
        """Set a configuration value (administrators).

        :param name: The name of the configuration item.
        :type name: String
        :param value: The value of the configuration item.
        :type value: String
        """
        config_set(_name(params), params.get("value"), request.user)
        return HttpResponse("OK", content_type="text/plain; charset=utf-8")  # as MAAS answers


def _name(params) -> str:
    name = params.text("name")
    if not name:
        raise BadRequest.fields({"name": ["This field is required."]})
    return name


class DomainsHandler(Handler):
    """DNS domains: the default one only, as machine objects show it (no DNS is served)."""

    name = "DomainsHandler"
    path = "domains/"

    def read(self, request, params):
        """List domains."""
        return [DOMAIN]


class DomainHandler(Handler):
    """A DNS domain (by id or name)."""

    name = "DomainHandler"
    path = "domains/{id}/"

    def read(self, request, params, id):
        """Read a domain."""
        if id not in (str(DOMAIN["id"]), DOMAIN["name"]):
            raise NotFound("No Domain matches the given query.")
        return DOMAIN
