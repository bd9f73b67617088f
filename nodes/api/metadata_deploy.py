"""Metadata API for the deployed OS's first boot (docs/metadata-api.md, "Deploy"): thin views.

The deployed OS authenticates with the token the deploy runner wrote into metal.cfg (the
deployment job's token); it is revoked once the machine is Deployed.
"""

from django.urls import path
from rest_framework import exceptions, serializers

from maasproject.api.fields import TextField
from nodes.api.metadata import MetadataView, text
from nodes.choices import NodeStatus
from nodes.selectors import machine_public_keys
from nodes.selectors.boot import region_url
from nodes.selectors.cloudconfig import cloud_config_yaml, deployed_os_cloud_config
from nodes.services import deploy

OUTPUT_MAX = 64 * 1024


class DeployedSerializer(serializers.Serializer):
    message = TextField(required=False, default="", allow_blank=True,
                        max_length=2000)
    user_data_exit = serializers.IntegerField(required=False, default=None, allow_null=True,
                                              min_value=-255, max_value=255)
    user_data_output = TextField(required=False, default="", allow_blank=True,
                                 trim_whitespace=False, max_length=OUTPUT_MAX)


class DeployView(MetadataView):
    """Base: a report that does not fit the machine's deployment is a 400."""

    def handle_exception(self, exc):
        if isinstance(exc, deploy.DeployError):
            exc = exceptions.ParseError(str(exc))
        return super().handle_exception(exc)


class UserDataView(DeployView):
    """The owner's user data, as given to deploy (404 when there is none or not deploying)."""

    def get(self, request):
        try:
            user_data = deploy.user_data_fetch(self.machine)
        except deploy.DeployError as exc:
            raise exceptions.NotFound(str(exc)) from exc
        if not user_data:
            raise exceptions.NotFound("No user data.")
        return text(user_data)


class DeployedView(DeployView):
    """The deployed OS booted from its disk: the machine is Deployed."""

    def post(self, request):
        deploy.deployed_report(self.machine, **self.validated(DeployedSerializer))
        return text("ok\n")


class CloudConfigView(DeployView):
    """The cloud-init configuration for the deployed OS (YAML), for the deploy runner to write
    into `/etc/cloud/cloud.cfg.d/` of an image with cloud-init."""

    def get(self, request):
        document = deployed_os_cloud_config(self.machine,
                                            region_url(request.build_absolute_uri("/")))
        if document is None or self.machine.status != NodeStatus.DEPLOYING:
            raise exceptions.NotFound("The machine is not being deployed.")
        return text(cloud_config_yaml(document))


class PublicKeysView(MetadataView):
    """The owner's SSH public keys, one per line (empty without an owner or keys)."""

    def get(self, request):
        keys = machine_public_keys(self.machine)
        return text("".join(f"{key}\n" for key in keys))


urlpatterns = [
    path("metadata/user-data/", UserDataView.as_view(), name="metadata-user-data"),
    path("metadata/deployed/", DeployedView.as_view(), name="metadata-deployed"),
    path("metadata/public-keys/", PublicKeysView.as_view(), name="metadata-public-keys"),
    path("metadata/cloud-config/", CloudConfigView.as_view(), name="metadata-cloud-config"),
]
