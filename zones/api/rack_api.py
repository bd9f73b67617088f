"""The rack API (`/api/v1/rack/`): racks register, heartbeat, poll config, report leases/events.

Racks authenticate with `Authorization: Rack SYSTEM_ID:TOKEN`; only registration (with the
shared secret) is open.
"""
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.authentication import HeaderAuthentication, HeaderScheme
from maasproject.api.fields import NameField, TextField
from maasproject.api.schema import ErrorSerializer
from maasproject.api.throttling import FailureLimit
from nodes.api.fields import MacAddressField
from nodes.choices import Firmware
from nodes.selectors.boot import boot_decision
from nodes.services.boot import boot_decision_record
from zones.choices import LeaseState
from zones.models import RackController
from zones.rackkeys import rack_power_key
from zones.services import rackapi

EVENT_TYPES = ["dhcp_discover", "dhcp_offer", "dhcp_ack", "tftp_file", "http_file",
               "boot_decision", "boot_file_missing", "boot_unsupported_arch"]


class RackPrincipal:
    """The `request.user` of a rack request: authenticated, but no region user."""

    is_authenticated = True
    is_active = True
    is_staff = is_superuser = False

    def __init__(self, rack: RackController):
        self.rack = rack
        self.username = f"rack:{rack.name}"

    def __str__(self) -> str:
        return self.username


class RackAuthentication(HeaderAuthentication):
    """`Authorization: Rack SYSTEM_ID:TOKEN`; the token is checked against its stored hash."""

    keyword = "Rack"
    realm = "rack"

    def authenticate(self, request):
        credentials = self.credentials(request)
        if credentials is None:
            return None
        system_id, _, token = credentials.partition(":")
        rack = rackapi.rack_authenticate(system_id, token) if system_id and token else None
        if rack is None:
            raise exceptions.AuthenticationFailed("Invalid rack credentials.")
        return RackPrincipal(rack), rack


class RackAuthenticationScheme(HeaderScheme):
    """Describe the rack header in the OpenAPI schema."""

    target_class = RackAuthentication
    name = "rackAuth"
    description = "`Rack SYSTEM_ID:TOKEN`"


class IsRack(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, RackController)


class RackInterfaceSerializer(serializers.Serializer):
    name = NameField(max_length=64)
    mac = MacAddressField(allow_blank=True, required=False, default="")
    addresses = serializers.ListField(child=NameField(max_length=64), default=list)


class RegisterSerializer(serializers.Serializer):
    secret = serializers.CharField()
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    version = NameField(max_length=64, allow_blank=True, required=False, default="")
    interfaces = RackInterfaceSerializer(many=True, required=False, default=list)


class HeartbeatSerializer(serializers.Serializer):
    interfaces = RackInterfaceSerializer(many=True, required=False, default=list)
    services = serializers.DictField(child=NameField(max_length=32), default=dict)
    # Why a service is not running (optional): {"bootsvc": "boot loaders missing: ..."}.
    reasons = serializers.DictField(child=TextField(max_length=1000), required=False,
                                    default=dict)

    def validate(self, data):
        unknown = sorted(set(data["reasons"]) - set(data["services"]))
        if unknown:
            raise serializers.ValidationError(
                {"reasons": f"Not a service in services: {', '.join(unknown)}."})
        return data


class LeaseSerializer(serializers.Serializer):
    mac = MacAddressField()
    ip = serializers.IPAddressField()
    hostname = NameField(max_length=255, allow_blank=True, required=False,
                         allow_null=True, default="")
    expires = serializers.FloatField(min_value=0)
    state = serializers.ChoiceField(choices=LeaseState.values)


class LeasesSerializer(serializers.Serializer):
    leases = LeaseSerializer(many=True, allow_empty=True)


class RackEventSerializer(serializers.Serializer):
    mac = MacAddressField()
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    description = TextField(allow_blank=True, required=False, default="")
    time = serializers.FloatField(min_value=0, required=False, allow_null=True, default=None)
    path = NameField(allow_blank=True, required=False, default="", max_length=1024)
    # Why a transfer broke off (http_file): the region may then retry the boot.
    error = TextField(allow_blank=True, required=False, default="", max_length=500)
    # How the client boots, from DHCP option 93 (dhcp_discover): the region records it.
    firmware = serializers.ChoiceField(choices=Firmware.choices, allow_blank=True,
                                       required=False, default="")


class EventsSerializer(serializers.Serializer):
    events = RackEventSerializer(many=True, allow_empty=True)


def _plain(data):
    """Serializer output (OrderedDicts, nested) as plain dicts and lists for JSONFields."""
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return data


class _RackView(APIView):
    authentication_classes = [RackAuthentication]
    permission_classes = [IsRack]

    def validated(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return _plain(serializer.validated_data)


# Wrong secrets per source address: guessing the rack secret costs a minute per ten tries.
REGISTER_FAILURES = FailureLimit("rack-register", limit=settings.RACK_REGISTER_FAILURES, window=60)


class RegisterView(_RackView):
    """Register a rack with the shared secret; answers its system_id, a new token, the regions."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=RegisterSerializer, responses={
        200: inline_serializer("RackRegistration", {
            "system_id": serializers.CharField(), "name": serializers.CharField(),
            "token": serializers.CharField(), "power_key": serializers.CharField(),
            "regions": serializers.ListField(child=serializers.URLField())}),
        429: OpenApiResponse(ErrorSerializer, description="Too many wrong secrets from this "
                             "address; retry after Retry-After seconds.")})
    def post(self, request):
        address = request.META.get("REMOTE_ADDR", "")
        REGISTER_FAILURES.check(address)
        data = self.validated(RegisterSerializer)
        try:
            rack, token = rackapi.rack_register(data["secret"], data["name"], data["version"],
                                                data["interfaces"])
        except rackapi.RegistrationRefused as exc:
            REGISTER_FAILURES.record(address)
            raise exceptions.PermissionDenied(str(exc)) from exc
        return Response({"system_id": rack.system_id, "name": rack.name, "token": token,
                         "power_key": rack_power_key(rack.system_id, rack.token_hash),
                         "regions": rackapi.rack_regions(request.build_absolute_uri("/"))})


class HeartbeatView(_RackView):
    """Record the rack's interfaces and service states; answers its status and the regions."""

    @extend_schema(request=HeartbeatSerializer, responses=inline_serializer(
        "RackHeartbeatAnswer", {"status": serializers.CharField(),
                                "power_key": serializers.CharField(),
                                "regions": serializers.ListField(child=serializers.URLField())}))
    def post(self, request):
        data = self.validated(HeartbeatSerializer)
        state = rackapi.rack_heartbeat(request.auth, data["interfaces"], data["services"],
                                       reasons=data["reasons"])
        # The power key again: a rack registered before keys existed, or whose key changed with
        # the region's SECRET_KEY, picks it up without registering anew. The regions: a rack
        # learns those added since it started.
        return Response({"status": state,
                         "power_key": rack_power_key(request.auth.system_id,
                                                     request.auth.token_hash),
                         "regions": rackapi.rack_regions(request.build_absolute_uri("/"))})


class ConfigView(_RackView):
    """The rack's DHCP and boot configuration, with an ETag (304 when unchanged)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT,
                              304: OpenApiResponse(description="Unchanged (If-None-Match).")})
    def get(self, request):
        config = rackapi.rack_config(request.auth)
        etag = rackapi.config_etag(config)
        if etag in _etags(request.headers.get("If-None-Match", "")):
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = Response(config)
        response["ETag"] = etag
        return response


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


class BootView(_RackView):
    """The boot decision for a MAC."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, mac: str):
        try:
            decision = boot_decision(mac, request.auth, request.build_absolute_uri("/"))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"mac": exc.messages}) from exc
        boot_decision_record(decision, request.auth)
        return Response(decision)


class LeasesView(_RackView):
    """Record a batch of DHCP leases (all or nothing)."""

    @extend_schema(request=LeasesSerializer, responses=inline_serializer(
        "RackLeasesAnswer", {"recorded": serializers.IntegerField()}))
    def post(self, request):
        data = self.validated(LeasesSerializer)
        try:
            count = rackapi.leases_record(request.auth, data["leases"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response({"recorded": count})


class EventsView(_RackView):
    """Record a batch of boot-timeline events on the machines owning the MACs."""

    @extend_schema(request=EventsSerializer, responses=inline_serializer(
        "RackEventsAnswer", {"recorded": serializers.IntegerField(),
                             "ignored": serializers.IntegerField()}))
    def post(self, request):
        data = self.validated(EventsSerializer)
        return Response(rackapi.events_record(request.auth, data["events"]))
