"""Metadata API of the erase and rescue jobs (docs/metadata-api.md, "Erase", "Rescue"): thin
views. `GET job/` serves their runners (nodes/metadata/erase.sh, rescue.sh); the owner's keys
are `GET public-keys/`.
"""
from django.urls import path
from rest_framework import serializers

from maasproject.api.fields import NameField, TextField
from nodes.api.metadata import MetadataView, read_body, text
from nodes.services.erase import erase_report_record
from nodes.services.rescue import rescue_ready_record

ERASE_REPORT_MAX = 64 * 1024


class RescueReadySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "failed"])
    ip = NameField(required=False, default="", allow_blank=True, max_length=64)
    host_key = TextField(required=False, default="", allow_blank=True,
                         max_length=100)
    keys = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10000)
    message = TextField(required=False, default="", allow_blank=True,
                        max_length=2000)


class EraseReportView(MetadataView):
    """The erase job's report, one line per disk: Ready or Failed disk erasing."""

    def post(self, request):
        body = read_body(request, ERASE_REPORT_MAX).decode("utf-8", errors="replace")
        poweroff = erase_report_record(self.machine, body)
        return text(f"poweroff={int(poweroff)}\n")


class RescueReadyView(MetadataView):
    """The rescue job started SSH (Rescue mode), or could not."""

    def post(self, request):
        data = self.validated(RescueReadySerializer)
        rescue_ready_record(self.machine, ok=data.pop("status") == "ok", **data)
        return text("ok\n")


urlpatterns = [
    path("metadata/erase-report/", EraseReportView.as_view(), name="metadata-erase-report"),
    path("metadata/rescue-ready/", RescueReadyView.as_view(), name="metadata-rescue-ready"),
]
