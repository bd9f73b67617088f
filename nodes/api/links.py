"""POST /machines/{system_id}/interfaces/{id}/<operation>/: an interface's links and gateway."""
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from nodes.api.serializers import InterfaceSerializer, NoParams
from nodes.choices import LinkMode
from nodes.models import Interface, InterfaceLink
from nodes.selectors import machines_visible_to
from nodes.services import links
from zones.models import Subnet


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# MAAS's modes in any case, e.g. [Aa][Uu][Tt][Oo] (OpenAPI patterns have no case flag).
MODE_PATTERN = f"^({'|'.join(_any_case(label) for label in LinkMode.labels)})$"
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "string", "pattern": MODE_PATTERN, "example": "AUTO",
                      "description": "AUTO, DHCP, STATIC or LINK_UP, in any case."})
class LinkModeField(serializers.Field):
    """A link mode as MAAS spells it, in any case; the service's own rule decides."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("A link mode is a string: AUTO, DHCP, STATIC or "
                                              "LINK_UP.")
        try:
            return links.link_mode(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["mode"]) from exc

    def to_representation(self, value) -> str:
        return value


class LinkSubnetParams(serializers.Serializer):
    mode = LinkModeField()
    subnet = serializers.PrimaryKeyRelatedField(queryset=Subnet.objects.all(), required=False,
                                                allow_null=True, default=None)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None,
                                            help_text="STATIC only; else a free address.")
    default_gateway = serializers.BooleanField(default=False)


class UnlinkSubnetParams(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The link's id.")


class SetDefaultGatewayParams(serializers.Serializer):
    link_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
        help_text="Needed only when several links of the interface have a gateway.")


def _operation(name: str, params: type[serializers.Serializer]):
    return extend_schema(request=params, responses=InterfaceSerializer,
                         operation_id=f"machines_interfaces_{name}")


class InterfaceLinksViewSet(viewsets.GenericViewSet):
    """Links of a machine's interface: the machine must be visible (404), the service decides
    who may (403), when (409) and what (400)."""

    serializer_class = InterfaceSerializer
    queryset = Interface.objects.none()  # for the schema: the interface is found by interface()

    def interface(self) -> Interface:
        machine = get_object_or_404(machines_visible_to(self.request.user),
                                    system_id=self.kwargs["system_id"])
        return get_object_or_404(Interface, machine=machine, pk=self.kwargs["pk"])

    def params(self, params: type[serializers.Serializer]) -> dict:
        body = params(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    def answer(self, interface: Interface) -> Response:
        fresh = Interface.objects.prefetch_related(Prefetch(
            "links", queryset=InterfaceLink.objects.select_related("address", "subnet"))
        ).get(pk=interface.pk)
        return Response(InterfaceSerializer(fresh).data)

    @_operation("link_subnet", LinkSubnetParams)
    def link_subnet(self, request, system_id=None, pk=None):
        """Link the interface to a subnet (STATIC: an address now; AUTO: one at deploy)."""
        interface = self.interface()
        links.interface_link_subnet(interface, request.user, **self.params(LinkSubnetParams))
        return self.answer(interface)

    @_operation("unlink_subnet", UnlinkSubnetParams)
    def unlink_subnet(self, request, system_id=None, pk=None):
        """Remove a link of the interface (its address is freed)."""
        interface = self.interface()
        link_id = self.params(UnlinkSubnetParams)["id"]
        links.interface_unlink_subnet(interface, request.user, link_id)
        return self.answer(interface)

    @_operation("disconnect", NoParams)
    def disconnect(self, request, system_id=None, pk=None):
        """Remove every link of the interface and take it off its VLAN."""
        interface = self.interface()
        links.interface_disconnect(interface, request.user)
        return self.answer(interface)

    @_operation("set_default_gateway", SetDefaultGatewayParams)
    def set_default_gateway(self, request, system_id=None, pk=None):
        """Make a link of this interface the machine's default IPv4 gateway."""
        interface = self.interface()
        link_id = self.params(SetDefaultGatewayParams)["link_id"]
        links.machine_set_default_gateway(interface.machine, request.user, link_id,
                                          interface=interface)
        return self.answer(interface)


urlpatterns = [
    path(f"machines/<str:system_id>/interfaces/<int:pk>/{name.replace('_', '-')}/",
         InterfaceLinksViewSet.as_view({"post": name}),
         name=f"machine-interface-{name.replace('_', '-')}")
    for name in ("link_subnet", "unlink_subnet", "disconnect", "set_default_gateway")
]
