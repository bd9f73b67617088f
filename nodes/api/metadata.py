"""Metadata API for machines' ephemeral environments (docs/metadata-api.md): thin views.

Authenticated by `Authorization: Machine <system_id>:<token>`; a result or script of another
machine is 404, so a token never learns what exists elsewhere.
"""
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse
from django.urls import path
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.fields import NameField, TextField
from nodes.api.authentication import MachineTokenAuthentication
from nodes.api.fields import MacAddressField
from nodes.choices import ResultType
from nodes.metadata.render import job_spec, render_job
from nodes.models import MachineToken
from nodes.selectors import job_pending_results, job_result, job_script_set, token_job_spec
from nodes.selectors.boot import region_url
from nodes.services import metadata
from nodes.services.enlistment import enlistment_allowed_from, machine_enlist, parse_fields
from nodes.services.script_flow import STREAM_FIELDS, JobBatch, job_batch, result_stream
from nodes.services.tokens import mac_uses_address

ENLIST_MAX_BODY = 64 * 1024


class IsMachine(BasePermission):
    """Only a machine's own job token."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, MachineToken)


class FinishSerializer(serializers.Serializer):
    exit_status = serializers.IntegerField(min_value=-255, max_value=255)
    runtime = serializers.FloatField(min_value=0, max_value=10**7)
    timed_out = serializers.BooleanField(default=False)


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "failed"])
    message = TextField(required=False, default="", allow_blank=True,
                        max_length=2000)


class HelloSerializer(serializers.Serializer):
    mac = MacAddressField(required=False, default="", allow_blank=True)
    ip = NameField(required=False, default="", allow_blank=True, max_length=64)


def text(body: str, code: int = 200) -> HttpResponse:
    return HttpResponse(body, status=code, content_type="text/plain; charset=utf-8")


def read_body(request, limit: int) -> bytes:
    """The raw request body, refused (400) beyond `limit` bytes without reading it all."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise metadata.MetadataError(f"Body larger than {limit} bytes.")
    stream = request.stream  # read directly: request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise metadata.MetadataError(f"Body larger than {limit} bytes.")
    return data


class MetadataView(APIView):
    """Base: machine token required; service errors become 400, other machines' rows 404."""

    authentication_classes = [MachineTokenAuthentication]
    permission_classes = [IsMachine]
    schema = None  # machines' API, not users': kept out of the OpenAPI schema

    @property
    def machine(self):
        return self.request.auth.machine

    def validated(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def handle_exception(self, exc):
        if isinstance(exc, ObjectDoesNotExist):
            exc = exceptions.NotFound()
        elif isinstance(exc, metadata.MetadataError):
            exc = exceptions.ParseError(str(exc))
        return super().handle_exception(exc)


class JobView(MetadataView):
    """The job: the sh runner, or JSON; anonymous from an enlisting subnet: enlistment."""

    permission_classes = [AllowAny]

    def get(self, request):
        spec = self.spec()
        if "application/json" in request.META.get("HTTP_ACCEPT", ""):
            return Response(spec)
        return text(render_job(spec, region_url(request.build_absolute_uri("/"))))

    def spec(self) -> dict:
        interval = settings.METADATA_HEARTBEAT_INTERVAL
        if self.request.auth is None:
            if not enlistment_allowed_from(self.request.META.get("REMOTE_ADDR", "")):
                raise exceptions.NotAuthenticated()
            return job_spec(system_id="", job="enlistment", script_set_id=None, results=[],
                            heartbeat_interval=interval, poweroff=True)
        without_scripts = token_job_spec(self.machine, self.request.auth)  # erase, rescue
        if without_scripts is not None:
            return without_scripts
        script_set = job_script_set(self.machine)
        if script_set is None:
            raise exceptions.NotFound("No job for this machine.")
        if script_set.result_type == ResultType.DEPLOYMENT:
            batch = JobBatch(results=job_pending_results(script_set))
        else:  # for_hardware, may_reboot and recommission decided as the runner asks
            batch = job_batch(script_set)
        spec = job_spec(system_id=self.machine.system_id, job=script_set.result_type,
                        script_set_id=script_set.pk, results=batch.results,
                        heartbeat_interval=interval,
                        poweroff=not script_set.options.get("enable_ssh"),
                        resumed=batch.resumed, more=batch.more)
        if script_set.result_type == ResultType.DEPLOYMENT:  # the image write (deploy.sh)
            spec.update(image=script_set.options.get("image", {}),
                        disk=script_set.options.get("disk", ""),
                        storage=script_set.options.get("storage"),
                        retry_wait=settings.DEPLOY_RETRY_WAIT)
        return spec


class ScriptView(MetadataView):
    def get(self, request, result_id: int):
        result = job_result(self.machine, result_id)
        if result.script is None:
            raise exceptions.NotFound("The script was deleted.")
        return text(result.script.body)


class StartView(MetadataView):
    def post(self, request, result_id: int):
        metadata.result_start(self.machine, result_id)
        return text("ok\n")


class OutputView(MetadataView):
    def get(self, request, result_id: int):
        """What a result holds so far: a resumed may_reboot script's output before the reboot."""
        stream = request.query_params.get("stream", "")
        if stream not in STREAM_FIELDS:
            raise metadata.MetadataError(f"Unknown stream {stream!r}: use one of "
                                         f"{', '.join(STREAM_FIELDS)}.")
        return HttpResponse(result_stream(self.machine, result_id, stream),
                            content_type="application/octet-stream")

    def post(self, request, result_id: int):
        data = read_body(request, settings.METADATA_MAX_OUTPUT)
        metadata.result_output(self.machine, result_id, request.query_params.get("stream", ""),
                               data)
        return text("ok\n")


class FinishView(MetadataView):
    def post(self, request, result_id: int):
        metadata.result_finish(self.machine, result_id, **self.validated(FinishSerializer))
        return text("ok\n")


class HeartbeatView(MetadataView):
    def post(self, request):
        metadata.heartbeat(self.machine)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StatusView(MetadataView):
    def post(self, request):
        data = self.validated(StatusSerializer)
        poweroff = metadata.job_report(self.machine, ok=data["status"] == "ok",
                                       message=data["message"])
        return text(f"poweroff={int(poweroff)}\n")


class EnlistView(MetadataView):
    """An unknown machine registers itself (from a subnet that allows enlistment)."""

    permission_classes = [AllowAny]

    def post(self, request):
        ip = request.META.get("REMOTE_ADDR", "")
        if not enlistment_allowed_from(ip):
            raise exceptions.PermissionDenied("Enlistment is not allowed from this address.")
        body = read_body(request, ENLIST_MAX_BODY).decode("utf-8", errors="replace")
        enlisted = machine_enlist(parse_fields(body), ip=ip)
        lines = [f"system_id={enlisted.machine.system_id}"]
        if enlisted.token:
            lines.append(f"token={enlisted.token}")
        return text("\n".join(lines) + "\n")


class HelloView(MetadataView):
    """A machine with no job says it is up (its token if it has one, else found by MAC)."""

    permission_classes = [AllowAny]

    def post(self, request):
        data = self.validated(HelloSerializer)
        token, address = request.auth, request.META.get("REMOTE_ADDR", "")
        machine = token.machine if token is not None else None
        if machine is None and not mac_uses_address(data["mac"], address):
            # The same answer for an unknown MAC: hello tells no one which MACs exist.
            raise exceptions.NotAuthenticated("Say hello with the machine's token, or from the "
                                              "address a rack leased to this MAC.")
        metadata.hello_record(machine, mac=data["mac"], ip=data["ip"] or address)
        return text("ok\n")


urlpatterns = [
    path("metadata/job/", JobView.as_view(), name="metadata-job"),
    path("metadata/scripts/<int:result_id>/", ScriptView.as_view(), name="metadata-script"),
    path("metadata/results/<int:result_id>/start/", StartView.as_view(),
         name="metadata-result-start"),
    path("metadata/results/<int:result_id>/output/", OutputView.as_view(),
         name="metadata-result-output"),
    path("metadata/results/<int:result_id>/finish/", FinishView.as_view(),
         name="metadata-result-finish"),
    path("metadata/heartbeat/", HeartbeatView.as_view(), name="metadata-heartbeat"),
    path("metadata/status/", StatusView.as_view(), name="metadata-status"),
    path("metadata/enlist/", EnlistView.as_view(), name="metadata-enlist"),
    path("metadata/hello/", HelloView.as_view(), name="metadata-hello"),
]
