"""The `default` zone and pool come from a data migration, not from application code."""
import importlib

import pytest
from django.apps import apps

from zones.models import ResourcePool, Zone

pytestmark = pytest.mark.django_db


def test_default_zone_and_pool_exist_after_migrating():
    assert Zone.objects.filter(name="default").exists()
    assert ResourcePool.objects.filter(name="default").exists()


def test_migration_is_idempotent():
    migration = importlib.import_module("zones.migrations.0002_default_zone_and_pool")
    migration.create_defaults(apps, None)
    assert Zone.objects.filter(name="default").count() == 1
    assert ResourcePool.objects.filter(name="default").count() == 1
