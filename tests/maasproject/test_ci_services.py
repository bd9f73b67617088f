"""In CI the suite runs against the real PostgreSQL and Redis, not the embedded default."""
import os

import pytest
from django.db import connection

from maasproject.celery import app as celery_app


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="outside CI the embedded default runs")
@pytest.mark.django_db
def test_ci_uses_postgresql_and_redis():
    assert connection.vendor == "postgresql"
    assert celery_app.conf.broker_url.startswith("redis://")
