"""Boot resources API: list (with the racks' sync progress), create, delete, upload files."""
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from maasproject.api.fields import NameField
from maasproject.api.permissions import IsAdmin, IsAdminOrReadOnly
from nodes.choices import BootResourceFileFormat
from nodes.models import BootResource, BootResourceFile
from nodes.services import bootresources
from zones.models import RackController


class BootResourceFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = BootResourceFile
        fields = ["filetype", "format", "path", "size", "sha256", "created"]


class BootResourceSerializer(serializers.ModelSerializer):
    files = BootResourceFileSerializer(many=True, read_only=True)
    rack_sync = serializers.SerializerMethodField()

    class Meta:
        model = BootResource
        fields = ["id", "name", "title", "os", "series", "architecture", "kind", "origin",
                  "created", "updated", "files", "rack_sync"]
        read_only_fields = ["id", "created", "updated", "files", "rack_sync"]
        extra_kwargs = {"name": {"required": False, "validators": []}}
        validators = []  # the service validates (full_clean) and answers 400

    def get_rack_sync(self, resource) -> dict:
        """{rack name: the rack's last image-sync report} (racks report for all files at once)."""
        return self.context.get("rack_sync", {})


def rack_sync_map() -> dict:
    """Each rack's last image-sync progress by rack name ({} until it reports)."""
    return dict(RackController.objects.order_by("name").values_list("name", "image_sync"))


class _ResourceView:
    """Shared queryset and context: files prefetched, rack sync read once per request."""

    serializer_class = BootResourceSerializer
    queryset = BootResource.objects.prefetch_related("files")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "rack_sync": rack_sync_map()}


class BootResourceListView(_ResourceView, generics.ListCreateAPIView):
    """List boot resources (any user); create one (admins)."""

    permission_classes = [IsAdminOrReadOnly]

    def perform_create(self, serializer):
        serializer.instance = bootresources.boot_resource_create(
            self.request.user, **serializer.validated_data)


class BootResourceDetailView(_ResourceView, generics.RetrieveDestroyAPIView):
    """One boot resource (any user); delete it and its files (admins)."""

    permission_classes = [IsAdminOrReadOnly]

    def perform_destroy(self, instance):
        bootresources.boot_resource_delete(self.request.user, instance)


class UploadParams(serializers.Serializer):
    sha256 = NameField()
    size = serializers.IntegerField(min_value=0, required=False)
    image_format = serializers.ChoiceField(choices=BootResourceFileFormat.choices,
                                           required=False, allow_blank=True, default="")


class BootResourceFileUploadView(APIView):
    """Upload one file of a resource as the raw request body, streamed to disk and verified.

    A deployable resource's root-image needs `image_format` (raw, gz or zst; not `format`, which
    DRF keeps for choosing a renderer); root-tgz is tgz. The body must be in that format (its
    first bytes are checked), else 400 and nothing is kept. The file's row shows it as `format`.
    """

    permission_classes = [IsAdmin]
    parser_classes = []  # the body is never parsed or buffered: the service reads it in chunks

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("sha256", str, required=True),
                               OpenApiParameter("size", int),
                               OpenApiParameter("image_format", str,
                                                enum=[c for c in BootResourceFileFormat.values
                                                      if c])],
                   responses={201: BootResourceSerializer})
    def put(self, request, pk: int, filetype: str):
        resource = get_object_or_404(BootResource, pk=pk)
        params = UploadParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        bootresources.boot_resource_file_upload(
            request.user, resource, filetype, request._request,
            params.validated_data["sha256"], params.validated_data.get("size"),
            params.validated_data["image_format"])
        body = BootResourceSerializer(BootResource.objects.prefetch_related("files").get(pk=pk),
                                      context={"rack_sync": rack_sync_map()}).data
        return Response(body, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("boot-resources/", BootResourceListView.as_view(), name="bootresource-list"),
    path("boot-resources/<int:pk>/", BootResourceDetailView.as_view(),
         name="bootresource-detail"),
    path("boot-resources/<int:pk>/files/<str:filetype>/", BootResourceFileUploadView.as_view(),
         name="bootresource-file-upload"),
]
