"""Rack API for the image cache: the boot-resource manifest, the files (with Range), progress."""
import os
import re

from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from maasproject.api.fields import TextField
from zones.api.rack_api import _RackView
from zones.services import bootfiles

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ProgressSerializer(serializers.Serializer):
    bytes_done = serializers.IntegerField(min_value=0)
    bytes_total = serializers.IntegerField(min_value=0)
    files_done = serializers.IntegerField(min_value=0)
    files_total = serializers.IntegerField(min_value=0)
    state = serializers.ChoiceField(choices=bootfiles.SYNC_STATES)
    error = TextField(allow_blank=True, required=False, default="", max_length=4000)
    # path -> sha256 of the files the rack holds verified (racks before it was added omit it).
    held = serializers.DictField(child=serializers.RegexField(r"^[0-9a-f]{64}$"),
                                 required=False)

    def validate(self, attrs):
        if len(attrs.get("held", {})) > attrs["files_total"]:
            raise serializers.ValidationError({"held": "More files than files_total."})
        if attrs["bytes_done"] > attrs["bytes_total"]:
            raise serializers.ValidationError({"bytes_done": "More than bytes_total."})
        if attrs["files_done"] > attrs["files_total"]:
            raise serializers.ValidationError({"files_done": "More than files_total."})
        return attrs


class ImageManifestView(_RackView):
    """The boot resources the rack should cache: {"files": [{path, size, sha256}], "etag"}."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        manifest = bootfiles.boot_manifest()
        response = Response(manifest)
        response["ETag"] = manifest["etag"]
        return response


class ImageProgressView(_RackView):
    """Record the rack's image-sync progress; it shows as `image_sync` in the racks API."""

    @extend_schema(request=ProgressSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        data = self.validated(ProgressSerializer)
        return Response(bootfiles.rack_image_sync_record(request.auth, data))


class ImageFileView(_RackView):
    """One boot resource, streamed; `Range: bytes=N-` (or N-M, -N) answers 206."""

    @extend_schema(operation_id="rack_images_file", responses={
        (200, "application/octet-stream"): OpenApiTypes.BINARY,
        (206, "application/octet-stream"): OpenApiTypes.BINARY,
        404: OpenApiResponse(description="No such boot resource."),
        416: OpenApiResponse(description="Range not satisfiable.")})
    def get(self, request, path: str):
        item = bootfiles.boot_file(path)
        if item is None:
            raise Http404("No such boot resource.")
        try:
            fd = os.open(item.source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise Http404("No such boot resource.") from exc
        handle = os.fdopen(fd, "rb")
        size = os.fstat(fd).st_size
        header = request.headers.get("Range", "")
        span = parse_range(header, size) if header else None
        if span == "unsatisfiable":
            handle.close()
            response = HttpResponse(status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE)
            response["Content-Range"] = f"bytes */{size}"
            return response
        if span is None:
            response = FileResponse(handle, content_type="application/octet-stream")
        else:
            response = _partial(handle, size, *span)
        response["Accept-Ranges"] = "bytes"
        return response


def _partial(handle, size: int, start: int, end: int) -> FileResponse:
    """A 206 answer streaming bytes start..end (inclusive) of the open file."""
    handle.seek(start)
    length = end - start + 1
    response = FileResponse(_Slice(handle, length), status=status.HTTP_206_PARTIAL_CONTENT,
                            content_type="application/octet-stream",
                            headers={"Content-Length": str(length)})
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def parse_range(header: str, size: int):
    """(start, end) of a single `bytes=` range; None to ignore it; "unsatisfiable" for 416."""
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # malformed or multi-range: answer the whole file (RFC 9110 allows it)
    first, last = match.groups()
    if not first:
        start, end = max(0, size - int(last)), size - 1
        return (start, end) if int(last) > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


class _Slice:
    """A file-like reading at most `remaining` bytes of an open file, for FileResponse."""

    def __init__(self, handle, remaining: int):
        self.handle, self.remaining = handle, remaining

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.handle.read(size)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()
