"""Scripts API (list, read, upload, edit, delete) and a machine's script results and outputs."""
import json

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.fields import NameField, TextField
from maasproject.api.permissions import IsAdminOrReadOnly
from nodes.choices import ResultType, ScriptStatus
from nodes.models import Machine, Script, ScriptResult, ScriptSet
from nodes.scripts.metadata import HARDWARE_TYPES, SCRIPT_TYPES, parse_script_metadata
from nodes.selectors import (
    machines_visible_to,
    script_set_get,
    script_set_status,
    script_sets_of,
    scripts_filtered,
)
from nodes.services import scripts

STREAMS = {"combined": "output", "stdout": "stdout", "stderr": "stderr", "result": "result"}


class ScriptSerializer(serializers.ModelSerializer):
    """A script; `body` only when asked for (`?include_script=true`)."""

    resource_uri = serializers.SerializerMethodField()
    # Not read-only only so that the schema does not call it required: writes go through
    # ScriptWriteSerializer.
    body = serializers.CharField(required=False, help_text="with ?include_script=true only")

    class Meta:
        model = Script
        fields = ["id", "name", "title", "description", "tags", "script_type", "hardware_type",
                  "parallel", "timeout", "destructive", "parameters", "for_hardware",
                  "may_reboot", "recommission", "packages", "default", "created", "updated",
                  "resource_uri", "body"]
        read_only_fields = fields[:-1]

    def get_resource_uri(self, script: Script) -> str:
        return f"/api/v1/scripts/{script.name}/"

    def to_representation(self, script: Script) -> dict:
        body = super().to_representation(script)
        if not self.context.get("include_script"):
            body.pop("body")
        return body


@extend_schema_field(OpenApiTypes.ANY)
class AnyValue(serializers.Field):
    """Passed as given: the service validates metadata values (aliases, HH:MM:SS, tag strings)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class ScriptWriteSerializer(serializers.Serializer):
    """A script upload: `body` (JSON) or a `script` file (multipart), plus metadata overrides."""

    name = NameField(required=False, max_length=255)
    body = TextField(required=False, trim_whitespace=False)
    script = serializers.FileField(required=False, write_only=True)
    title = NameField(required=False, allow_blank=True, max_length=255)
    description = TextField(required=False, allow_blank=True)
    tags = AnyValue(required=False)
    script_type = NameField(required=False)
    hardware_type = NameField(required=False)
    parallel = NameField(required=False)
    timeout = AnyValue(required=False)
    destructive = AnyValue(required=False)
    parameters = AnyValue(required=False)
    for_hardware = AnyValue(required=False)
    may_reboot = AnyValue(required=False)
    recommission = AnyValue(required=False)
    packages = AnyValue(required=False)

    def validate_script(self, upload) -> str:
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise serializers.ValidationError("The script must be UTF-8 text.") from exc

    def validate_parameters(self, value):
        if isinstance(value, str):  # a form field carries JSON text
            try:
                return json.loads(value)
            except ValueError as exc:
                raise serializers.ValidationError("Parameters must be a JSON object.") from exc
        return value

    def fields_for_service(self) -> dict:
        """Validated data with the uploaded file as `body` (named after the file if unnamed)."""
        data = dict(self.validated_data)
        if hasattr(self.initial_data, "getlist") and len(
                self.initial_data.getlist("for_hardware")) > 1:  # a form repeats the field
            data["for_hardware"] = self.initial_data.getlist("for_hardware")
        upload = self.initial_data.get("script") if hasattr(self.initial_data, "get") else None
        text = data.pop("script", None)
        if text is not None:
            data["body"] = text
            if "name" not in data and upload is not None and getattr(upload, "name", ""):
                data["fallback_name"] = upload.name.rsplit("/", 1)[-1]
        return data


def _flag(request, name: str) -> bool:
    """A boolean query parameter, false when absent or empty; another value than a boolean's
    is a 400 (not silently false)."""
    raw = request.query_params.get(name, "")
    if raw == "":
        return False
    try:
        return serializers.BooleanField().to_internal_value(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: ["Must be true or false."]}) from exc


class ScriptViewSet(viewsets.ViewSet):
    """Scripts: any user reads; admins upload, edit and delete (built-ins are read-only)."""

    permission_classes = [IsAdminOrReadOnly]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    serializer_class = ScriptSerializer

    @extend_schema(parameters=[OpenApiParameter("script_type", str),
                               OpenApiParameter("hardware_type", str),
                               OpenApiParameter("tags", str, description="comma-separated")],
                   responses=ScriptSerializer(many=True))
    def list(self, request):
        params = request.query_params
        tags = [t for raw in params.getlist("tags") for t in raw.split(",") if t.strip()]
        queryset = scripts_filtered(
            script_type=_alias(SCRIPT_TYPES, params.get("script_type", ""), "script_type"),
            hardware_type=_alias(HARDWARE_TYPES, params.get("hardware_type", ""),
                                 "hardware_type"),
            tags=[t.strip() for t in tags])
        return Response(ScriptSerializer(queryset, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("include_script", bool)],
                   responses=ScriptSerializer)
    def retrieve(self, request, name: str):
        script = get_object_or_404(Script, name=name)
        context = {"include_script": _flag(request, "include_script")}
        return Response(ScriptSerializer(script, context=context).data)

    @extend_schema(request=ScriptWriteSerializer, responses={201: ScriptSerializer})
    def create(self, request):
        data = _write_data(request, partial=False)
        fallback = data.pop("fallback_name", None)
        # MAAS style: an uploaded file without a name in its metadata is named after the file.
        if fallback and not parse_script_metadata(data["body"]).get("name"):
            data["name"] = fallback
        script = scripts.script_create(request.user, **data)
        return Response(_body(script), status=status.HTTP_201_CREATED)

    @extend_schema(request=ScriptWriteSerializer, responses=ScriptSerializer)
    def update(self, request, name: str):
        get_object_or_404(Script, name=name)
        data = _write_data(request, partial=True)
        data.pop("fallback_name", None)
        script = scripts.script_update(request.user, name, **data)
        return Response(_body(script))

    def destroy(self, request, name: str):
        get_object_or_404(Script, name=name)
        scripts.script_delete(request.user, name)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _alias(table: dict, value: str, field: str) -> str:
    if not value:
        return ""
    if value.lower() not in table:
        raise serializers.ValidationError({field: [f"Unknown {field} '{value}'."]})
    return str(table[value.lower()])


def _write_data(request, *, partial: bool) -> dict:
    serializer = ScriptWriteSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    data = serializer.fields_for_service()
    if not partial and "body" not in data:
        raise serializers.ValidationError({"body": ["Give the script as `body` or a `script` "
                                                    "file."]})
    return data


def _body(script: Script) -> dict:
    return ScriptSerializer(script, context={"include_script": True}).data


# Results ------------------------------------------------------------------------------------
def _visible_machine(request, system_id: str) -> Machine:
    """The machine, or 404 for users who cannot see it (as the machine endpoints do)."""
    return get_object_or_404(machines_visible_to(request.user), system_id=system_id)


class ScriptResultBodySerializer(serializers.Serializer):
    """One result in a script set's body (the shape _result_body builds, for the schema)."""

    id = serializers.IntegerField()
    script_name = serializers.CharField()
    script = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=ScriptStatus.choices)
    status_name = serializers.CharField()
    exit_status = serializers.IntegerField(allow_null=True)
    parameters = serializers.JSONField()
    started = serializers.DateTimeField(allow_null=True)
    ended = serializers.DateTimeField(allow_null=True)
    runtime = serializers.FloatField(allow_null=True)
    output_urls = serializers.DictField(child=serializers.CharField())


class ScriptSetBodySerializer(serializers.Serializer):
    """A script set as the results list answers it (the shape _set_body builds)."""

    id = serializers.IntegerField()
    system_id = serializers.CharField()
    result_type = serializers.ChoiceField(choices=ResultType.choices)
    options = serializers.JSONField()
    status = serializers.ChoiceField(choices=ScriptStatus.choices)
    status_name = serializers.CharField()
    created = serializers.DateTimeField(allow_null=True)
    last_ping = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    result_count = serializers.IntegerField()
    resource_uri = serializers.CharField()


class ScriptSetDetailSerializer(ScriptSetBodySerializer):
    """A script set with its results."""

    results = ScriptResultBodySerializer(many=True)


def _result_body(machine: Machine, script_set: ScriptSet, result: ScriptResult) -> dict:
    base = f"/api/v1/machines/{machine.system_id}/results/{script_set.pk}/{result.script_name}"
    return {
        "id": result.pk, "script_name": result.script_name, "script": result.script_id,
        "status": result.status, "status_name": ScriptStatus(result.status).label,
        "exit_status": result.exit_status, "parameters": result.parameters,
        "started": _iso(result.started), "ended": _iso(result.ended), "runtime": result.runtime,
        "output_urls": {stream: f"{base}/output/?stream={stream}" for stream in STREAMS},
    }


def _set_body(machine: Machine, script_set: ScriptSet, *, with_results: bool) -> dict:
    results = list(script_set.results.all())
    body = {
        "id": script_set.pk, "system_id": machine.system_id,
        "result_type": script_set.result_type, "options": script_set.options,
        "status": script_set_status(results), "created": _iso(script_set.created),
        "last_ping": _iso(script_set.last_ping), "finished": _iso(script_set.finished),
        "result_count": len(results),
        "resource_uri": f"/api/v1/machines/{machine.system_id}/results/{script_set.pk}/",
    }
    body["status_name"] = ScriptStatus(body["status"]).label
    if with_results:
        body["results"] = [_result_body(machine, script_set, r) for r in results]
    return body


def _iso(value) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


class ResultListView(APIView):
    """A machine's script sets, newest first (`?type=commissioning|...|deployment`)."""

    @extend_schema(parameters=[OpenApiParameter("type", str, enum=ResultType.values)],
                   responses=ScriptSetBodySerializer(many=True),
                   operation_id="machines_results_list")
    def get(self, request, system_id: str):
        machine = _visible_machine(request, system_id)
        result_type = request.query_params.get("type", "")
        if result_type and result_type not in ResultType.values:
            raise serializers.ValidationError({"type": [f"Unknown type '{result_type}'."]})
        sets = script_sets_of(machine, result_type)
        return Response([_set_body(machine, s, with_results=False) for s in sets])


class ResultDetailView(APIView):
    """One script set with its results: by id, or `current-commissioning` / `current-testing`."""

    @extend_schema(responses=ScriptSetDetailSerializer,
                   operation_id="machines_results_retrieve")
    def get(self, request, system_id: str, key: str):
        machine = _visible_machine(request, system_id)
        script_set = script_set_get(machine, key)
        if script_set is None:
            raise Http404(f"No script set {key} for this machine.")
        return Response(_set_body(machine, script_set, with_results=True))


class ResultOutputView(APIView):
    """The raw text of one result's output stream (`?stream=combined|stdout|stderr|result`)."""

    @extend_schema(parameters=[OpenApiParameter("stream", str, enum=list(STREAMS))],
                   responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request, system_id: str, key: str, script_name: str):
        machine = _visible_machine(request, system_id)
        stream = request.query_params.get("stream") or "combined"
        if stream not in STREAMS:
            raise serializers.ValidationError(
                {"stream": [f"Unknown stream '{stream}'; one of {', '.join(STREAMS)}."]})
        script_set = script_set_get(machine, key)
        if script_set is None:
            raise Http404(f"No script set {key} for this machine.")
        data = ScriptResult.objects.filter(script_set=script_set, script_name=script_name
                                           ).values_list(STREAMS[stream], flat=True).first()
        if data is None:
            raise Http404(f"No result {script_name} in script set {script_set.pk}.")
        return HttpResponse(bytes(data), content_type="text/plain; charset=utf-8")


script_list = ScriptViewSet.as_view({"get": "list", "post": "create"})
script_detail = ScriptViewSet.as_view({"get": "retrieve", "put": "update", "patch": "update",
                                       "delete": "destroy"})
RESULTS = "machines/<str:system_id>/results/"
urlpatterns = [
    path("scripts/", script_list, name="script-list"),
    path("scripts/<str:name>/", script_detail, name="script-detail"),
    path(RESULTS, ResultListView.as_view(), name="machine-result-list"),
    path(f"{RESULTS}<str:key>/", ResultDetailView.as_view(), name="machine-result-detail"),
    path(f"{RESULTS}<str:key>/<str:script_name>/output/", ResultOutputView.as_view(),
         name="machine-result-output"),
]
