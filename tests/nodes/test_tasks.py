"""The heartbeat sweep runs as a region beat task."""
from datetime import timedelta

import pytest
from django.utils import timezone

from maasproject.celery import app as celery_app
from nodes.choices import NodeStatus
from nodes.models import ScriptSet
from tests.nodes.api.metadata_helpers import running_job


def test_beat_schedule_runs_the_heartbeat_sweep(settings):
    celery_app.loader.import_default_modules()
    celery_app.finalize()
    entries = [entry for entry in celery_app.conf.beat_schedule.values()
               if entry["task"] == "nodes.tasks.heartbeat_sweep"]
    assert len(entries) == 1
    assert float(entries[0]["schedule"]) == float(settings.DEADLINE_CHECK_INTERVAL)
    assert "nodes.tasks.heartbeat_sweep" in celery_app.tasks


@pytest.mark.django_db
def test_heartbeat_task_runs_the_service(settings, django_capture_on_commit_callbacks):
    from nodes.tasks import heartbeat_sweep as task

    settings.METADATA_HEARTBEAT_TIMEOUT = 60
    machine, script_set, _results, _key = running_job()
    ScriptSet.objects.filter(pk=script_set.pk).update(
        last_ping=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=False):
        assert task.apply().get() == [machine.system_id]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.FAILED_COMMISSIONING
    assert machine.error_description.startswith("runner silent since ")
