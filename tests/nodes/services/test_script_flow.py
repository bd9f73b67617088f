"""Which scripts a runner gets next: for_hardware after the inventory, Skipped elsewhere;
recommission's second inventory; a may_reboot script resumed; the heartbeat gap of a reboot."""
from datetime import timedelta

import pytest
from django.utils import timezone

from nodes.choices import NodeStatus, ScriptStatus
from nodes.models import Event, Machine, ScriptResult
from nodes.services.metadata import heartbeat_sweep
from nodes.services.script_flow import hardware_facts, job_batch
from nodes.services.scripts import script_set_create
from tests.factories import MachineFactory, ScriptFactory

pytestmark = pytest.mark.django_db
VIRTIO_NET = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"


def user_script(name: str, **fields):
    return ScriptFactory(name=name, script_type="commissioning", body="#!/bin/sh\n", **fields)


def commissioning(*scripts) -> tuple[Machine, object]:
    machine = MachineFactory(status=NodeStatus.COMMISSIONING, previous_status=NodeStatus.NEW)
    return machine, script_set_create(machine, "commissioning",
                                      scripts=[script.name for script in scripts])


def finish(results, status=ScriptStatus.PASSED, when=None, stdout: dict | None = None):
    for result in results:
        result.status, result.ended = status, when or timezone.now()
        result.stdout = (stdout or {}).get(result.script_name, b"")
        result.save()


def names(batch) -> list[str]:
    return [result.script_name for result in batch.results]


def test_for_hardware_waits_for_the_inventory_then_runs_or_is_skipped():
    plain = user_script("40-plain")
    nic = user_script("50-nic-fw", for_hardware=["pci:1af4:1000"])
    other = user_script("51-other-fw", for_hardware=["pci:8086:1572", "system_vendor:Dell Inc."])
    machine, script_set = commissioning(plain, nic, other)

    first = job_batch(script_set)
    assert names(first)[-1] == "40-plain" and "30-modaliases" in names(first)
    assert first.more and first.resumed == set()
    finish([r for r in first.results], stdout={
        "30-modaliases": f"bus=pci\tmodalias={VIRTIO_NET}\n".encode(),
        "30-dmi": b"vendor=QEMU\nproduct=Standard PC\n"})
    assert hardware_facts(machine).ids("pci") == {"1af4:1000"}

    second = job_batch(script_set)
    assert names(second) == ["50-nic-fw"] and not second.more
    skipped = ScriptResult.objects.get(script_set=script_set, script_name="51-other-fw")
    assert skipped.status == ScriptStatus.SKIPPED
    assert bytes(skipped.output).startswith(b"Skipped: no hardware matching for_hardware "
                                            b"pci:8086:1572, system_vendor:Dell Inc.")
    assert Event.objects.filter(machine=machine, type="script_skipped").count() == 1


def test_recommission_ends_a_batch_and_sends_the_builtins_round_again():
    flash = user_script("60-flash", recommission=True)
    after = user_script("70-after")
    machine, script_set = commissioning(flash, after)
    first = job_batch(script_set)
    assert names(first)[-1] == "60-flash" and first.more
    earlier = timezone.now() - timedelta(seconds=5)
    finish([r for r in first.results if r.script_name != "60-flash"], when=earlier)
    finish([r for r in first.results if r.script_name == "60-flash"])

    second = job_batch(script_set)
    builtins = set(script_set.results.filter(script__default=True).values_list(
        "script_name", flat=True))
    assert set(names(second)) == builtins | {"70-after"} and not second.more
    assert Event.objects.filter(machine=machine, type="inventory_rerun").count() == 1
    finish(second.results)
    assert job_batch(script_set).results == []  # the builtins ended after 60-flash: once only


def test_a_running_may_reboot_script_is_resumed_and_others_rerun_plainly():
    reboots = user_script("60-reboots", may_reboot=True)
    plain = user_script("61-plain")
    machine, script_set = commissioning(reboots, plain)
    finish(script_set.results.filter(script__default=True))
    script_set.results.filter(script_name__in=["60-reboots", "61-plain"]).update(
        status=ScriptStatus.RUNNING)
    batch = job_batch(script_set)
    by_name = {r.script_name: r.pk for r in batch.results}
    assert batch.resumed == {by_name["60-reboots"]}
    assert Event.objects.filter(machine=machine, type="script_resumed").count() == 1


def test_heartbeat_sweep_allows_a_may_reboot_scripts_reboot(settings):
    settings.METADATA_HEARTBEAT_TIMEOUT, settings.MACHINE_BOOT_TIMEOUT = 20, 300
    reboots = user_script("60-reboots", may_reboot=True)
    machine, script_set = commissioning(reboots)
    result = script_set.results.get(script_name="60-reboots")
    result.status = ScriptStatus.RUNNING
    result.save()
    script_set.last_ping = timezone.now() - timedelta(seconds=120)
    script_set.save()
    assert heartbeat_sweep() == []  # silent for 2 min: a netboot's time, not lost

    script_set.last_ping = timezone.now() - timedelta(seconds=301)
    script_set.save()
    assert heartbeat_sweep() == [machine.system_id]
    result.status = ScriptStatus.PASSED
    result.save()


def test_without_a_may_reboot_script_silence_still_fails(settings):
    settings.METADATA_HEARTBEAT_TIMEOUT, settings.MACHINE_BOOT_TIMEOUT = 20, 300
    machine, script_set = commissioning(user_script("60-plain"))
    script_set.results.filter(script_name="60-plain").update(status=ScriptStatus.RUNNING)
    script_set.last_ping = timezone.now() - timedelta(seconds=60)
    script_set.save()
    assert heartbeat_sweep() == [machine.system_id]
