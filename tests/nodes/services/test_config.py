"""nodes.services.config: known names, defaults, checks, all-or-nothing updates, and effects."""
import socket

import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from nodes.choices import NodeStatus
from nodes.models import ConfigItem, Event
from nodes.services.actions import machine_deploy, machine_release
from nodes.services.config import config_all, config_get, config_set, config_update
from tests.factories import AdminFactory, MachineFactory, UserFactory
from tests.nodes.bootresource_factories import deployable_resource

pytestmark = pytest.mark.django_db


def test_names_never_set_have_their_defaults():
    assert config_all() == {
        "maas_name": socket.gethostname(), "default_osystem": "", "default_distro_series": "",
        "commissioning_distro_series": "", "enable_disk_erasing_on_release": False,
        "default_min_hwe_kernel": ""}


@pytest.mark.parametrize(("value", "stored"), [
    ("true", True), ("1", True), ("on", True), (True, True), ("no", False), ("0", False)])
def test_booleans_take_maas_spellings(value, stored):
    assert config_set("enable_disk_erasing_on_release", value, AdminFactory()) is stored
    assert config_get("enable_disk_erasing_on_release") is stored


@pytest.mark.parametrize(("name", "value"), [
    ("enable_disk_erasing_on_release", "maybe"), ("default_distro_series", "../etc"),
    ("default_distro_series", "Jammy Jellyfish"), ("maas_name", "a\nb"), ("maas_name", "x" * 256)])
def test_bad_values_are_refused_and_nothing_is_saved(name, value):
    with pytest.raises(ValidationError) as error:
        config_set(name, value, AdminFactory())
    assert "value" in error.value.message_dict
    assert not ConfigItem.objects.exists()


def test_unknown_names_and_non_admins_are_refused():
    with pytest.raises(ValidationError, match="not a configuration name"):
        config_get("no_such_thing")
    with pytest.raises(NotPermitted):
        config_set("maas_name", "x", UserFactory())


def test_an_update_is_all_or_nothing():
    admin = AdminFactory()
    with pytest.raises(ValidationError) as error:
        config_update({"maas_name": "lab", "enable_disk_erasing_on_release": "maybe",
                       "nope": 1}, admin)
    assert set(error.value.message_dict) == {"enable_disk_erasing_on_release", "nope"}
    assert not ConfigItem.objects.exists() and config_get("maas_name") != "lab"
    assert config_update({"maas_name": "lab"}, admin)["maas_name"] == "lab"
    assert Event.objects.filter(type="config_set", description__contains="maas_name").exists()


def test_a_deploy_without_a_release_uses_the_configured_default():
    deployable_resource(series="old")
    deployable_resource(series="new")
    config_set("default_distro_series", "old", AdminFactory())
    machine = MachineFactory(status=NodeStatus.READY)
    machine_deploy(machine.system_id, UserFactory())
    machine.refresh_from_db()
    assert machine.distro_series == "old"


def test_a_release_without_erase_follows_the_configuration(power_requests):
    admin = AdminFactory()
    config_set("enable_disk_erasing_on_release", True, admin)
    erased, kept = (MachineFactory(status=NodeStatus.DEPLOYED, owner=admin, power_type="fake")
                    for _ in range(2))
    machine_release(erased.system_id, admin)
    machine_release(kept.system_id, admin, erase=False)
    erased.refresh_from_db()
    kept.refresh_from_db()
    assert (erased.status, kept.status) == (NodeStatus.DISK_ERASING, NodeStatus.RELEASING)
