"""Script services: create/update/delete from embedded metadata, built-in sync, script sets."""
import pytest
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from nodes.models import Event, Script, ScriptResult, ScriptSet
from nodes.services import scripts
from nodes.services.errors import ScriptProtected, UnknownScripts
from tests.factories import MachineFactory, ScriptFactory, ScriptSetFactory

pytestmark = pytest.mark.django_db

BUILTINS = {"10-cpu", "10-memory", "20-block-devices", "20-network", "30-bmc", "30-dmi",
            "30-firmware", "30-modaliases"}
BODY = """#!/bin/sh
# --- Start MAAS 1.0 script metadata ---
# name: fio
# title: Storage benchmark
# tags: [storage, slow]
# script_type: test
# hardware_type: storage
# parallel: instance
# timeout: 00:10:00
# destructive: true
# parameters:
#   storage: {type: storage}
#   runtime: {type: runtime, default: 60}
# --- End MAAS 1.0 script metadata ---
fio --name=x
"""


def names(script_set: ScriptSet) -> list[str]:
    return list(script_set.results.order_by("script_name").values_list("script_name", flat=True))


def test_builtins_are_loaded_by_migrate_and_sync_is_idempotent():
    builtins = Script.objects.filter(default=True)
    assert set(builtins.values_list("name", flat=True)) == BUILTINS
    assert set(builtins.values_list("script_type", flat=True)) == {"commissioning"}
    before = dict(builtins.values_list("name", "updated"))
    scripts.builtin_scripts_sync()
    assert dict(Script.objects.filter(default=True).values_list("name", "updated")) == before
    assert Script.objects.get(name="20-block-devices").hardware_type == "storage"


def test_sync_repairs_edited_and_drops_vanished_builtins(tmp_path):
    Script.objects.filter(name="10-cpu").update(body="tampered", timeout=1)
    scripts.builtin_scripts_sync()
    cpu = Script.objects.get(name="10-cpu")
    assert cpu.timeout == 60 and "/proc/cpuinfo" in cpu.body
    (tmp_path / "10-cpu").write_text(cpu.body)
    scripts.builtin_scripts_sync(tmp_path)
    assert list(Script.objects.filter(default=True).values_list("name", flat=True)) == ["10-cpu"]
    scripts.builtin_scripts_sync()


def test_create_reads_metadata_and_explicit_fields_win(admin):
    script = scripts.script_create(admin, body=BODY, description="explicit")
    assert (script.name, script.title, script.script_type) == ("fio", "Storage benchmark",
                                                               "testing")
    assert script.tags == ["storage", "slow"] and script.timeout == 600
    assert (script.hardware_type, script.parallel, script.destructive) == ("storage", "instance",
                                                                            True)
    assert script.parameters["runtime"] == {"type": "runtime", "default": 60}
    assert script.description == "explicit" and not script.default
    assert Event.objects.filter(type="script_created").exists()
    other = scripts.script_create(admin, name="fio2", body=BODY, tags="a, b", timeout="5:00")
    assert (other.name, other.tags, other.timeout) == ("fio2", ["a", "b"], 300)


@pytest.mark.parametrize("body, fields, field", [
    ("#!/bin/sh\necho\n", {}, "name"),
    (BODY.replace("timeout: 00:10:00", "timeout: soon"), {}, "timeout"),
    (BODY.replace("script_type: test", "script_type: deploy"), {}, "script_type"),
    (BODY.replace("# tags: [storage, slow]", "# tags: [unclosed"), {}, "body"),
    (BODY, {"parallel": "sometimes"}, "parallel"),
    (BODY, {"name": "bad name"}, "name"),
])
def test_create_invalid_metadata_is_a_field_error_and_saves_nothing(admin, body, fields, field):
    with pytest.raises(ValidationError) as info:
        scripts.script_create(admin, body=body, **fields)
    assert field in info.value.message_dict
    assert not Script.objects.filter(default=False).exists()


def test_writes_are_admin_only_and_builtins_protected(admin, user):
    with pytest.raises(NotPermitted):
        scripts.script_create(user, body=BODY)
    scripts.script_create(admin, body=BODY)
    with pytest.raises(NotPermitted):
        scripts.script_update(user, "fio", title="x")
    with pytest.raises(NotPermitted):
        scripts.script_delete(user, "fio")
    with pytest.raises(ScriptProtected, match="built in"):
        scripts.script_delete(admin, "10-cpu")
    with pytest.raises(ScriptProtected, match="built in"):
        scripts.script_update(admin, "10-cpu", timeout=5)
    assert Script.objects.get(name="10-cpu").timeout == 60


def test_update_with_new_body_takes_its_metadata(admin):
    scripts.script_create(admin, body=BODY)
    updated = scripts.script_update(admin, "fio", body=BODY.replace("slow", "fast"), timeout=30)
    assert updated.tags == ["storage", "fast"] and updated.timeout == 30
    assert scripts.script_update(admin, "fio", title="T").title == "T"
    assert updated.body.count("fast") == 1


def test_delete_keeps_results_by_name(admin):
    script = scripts.script_create(admin, body=BODY)
    script_set = scripts.script_set_create(MachineFactory(), "testing", scripts=["fio"])
    scripts.script_delete(admin, "fio")
    result = script_set.results.get()
    assert result.script_id is None and result.script_name == "fio"
    assert not Script.objects.filter(pk=script.pk).exists()


def test_commissioning_set_has_builtins_and_named_or_tagged_user_scripts():
    machine = MachineFactory()
    ScriptFactory(name="fw", script_type="commissioning", tags=["firmware"])
    ScriptFactory(name="extra", script_type="commissioning")
    script_set = scripts.script_set_create(machine, "commissioning")
    assert names(script_set) == sorted(BUILTINS)
    assert all(r.status == "pending" for r in script_set.results.all())
    tagged = scripts.script_set_create(machine, "commissioning", scripts=["firmware", "10-cpu"])
    assert names(tagged) == sorted(BUILTINS | {"fw"})
    assert tagged.results.get(script_name="fw").script.name == "fw"


def test_commissioning_skip_options():
    machine = MachineFactory()
    options = {"skip_storage": True, "skip_networking": True, "enable_ssh": False}
    script_set = scripts.script_set_create(machine, "commissioning", options=options)
    assert names(script_set) == ["10-cpu", "10-memory", "30-bmc", "30-dmi", "30-firmware",
                                 "30-modaliases"]
    assert script_set.options == options


def test_testing_set_selection_and_parameter_defaults(admin):
    machine = MachineFactory()
    assert names(scripts.script_set_create(machine, "testing")) == []
    scripts.script_create(admin, body=BODY)
    ScriptFactory(name="smoke", tags=["default"])
    assert names(scripts.script_set_create(machine, "testing")) == ["smoke"]
    script_set = scripts.script_set_create(machine, "testing", scripts=["storage"])
    assert names(script_set) == ["fio"]
    assert script_set.results.get().parameters == {"runtime": 60}
    assert names(scripts.script_set_create(machine, "testing", scripts=[])) == []


def test_unknown_scripts_are_listed_and_nothing_is_created():
    machine = MachineFactory()
    ScriptFactory(name="smoke")
    with pytest.raises(UnknownScripts) as info:
        scripts.script_set_create(machine, "testing", scripts=["smoke", "nope", "10-cpu"])
    assert info.value.names == ["10-cpu", "nope"]
    assert "nope" in info.value.message_dict["scripts"][0]
    with pytest.raises(UnknownScripts):
        scripts.script_set_create(machine, "commissioning", scripts=["smoke"])
    assert not ScriptSet.objects.exists()


def test_only_the_last_ten_sets_per_type_are_kept():
    machine, other = MachineFactory(), MachineFactory()
    testing = ScriptSetFactory(machine=machine, result_type="testing")
    ScriptSetFactory(machine=other)
    created = [scripts.script_set_create(machine, "commissioning") for _ in range(12)]
    kept = ScriptSet.objects.filter(machine=machine, result_type="commissioning")
    assert set(kept.values_list("id", flat=True)) == {s.id for s in created[2:]}
    assert ScriptSet.objects.filter(pk=testing.pk).exists()
    assert ScriptSet.objects.filter(machine=other).count() == 1
    assert ScriptResult.objects.filter(script_set__machine=machine).count() == 10 * len(BUILTINS)


def test_update_renames(admin):
    scripts.script_create(admin, body=BODY)
    assert scripts.script_update(admin, "fio", name="fio2", title="T").name == "fio2"
    assert not Script.objects.filter(name="fio").exists()
