"""Service tests for nodes.services.allocation: constraints, best fit, dry run, errors."""
import pytest

from nodes.choices import EventLevel, NodeStatus
from nodes.models import Event, Machine
from nodes.selectors.allocation import AllocationConstraints
from nodes.services.allocation import machine_allocate
from nodes.services.errors import InvalidConstraint, NoMatchingMachine
from tests.factories import (
    MachineFactory,
    ResourcePoolFactory,
    TagFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db
READY = NodeStatus.READY


def ready(**kwargs) -> Machine:
    return MachineFactory(status=READY, **kwargs)


def pick(**constraints) -> Machine:
    """Dry-run allocation: which machine would be chosen."""
    return machine_allocate(UserFactory(), AllocationConstraints(**constraints), dry_run=True)


def snapshot() -> list[tuple]:
    return list(Machine.objects.order_by("id").values_list("id", "status", "owner_id", "updated"))


# --- each constraint filters ---------------------------------------------------------------

def test_name_selects_by_hostname():
    ready(hostname="alpha", cpu_count=1)
    wanted = ready(hostname="bravo", cpu_count=32)
    assert pick(name="bravo") == wanted


def test_system_id_selects_exact_machine():
    ready(cpu_count=1)
    wanted = ready(cpu_count=32)
    assert pick(system_id=wanted.system_id) == wanted


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        (("amd64",), "x86"),
        (("amd64/generic",), "x86"),
        (("amd64/*",), "x86"),
        (("arm64",), "arm"),
        (("aarch64",), "arm"),
        (("arm",), "armhf"),
        (("ppc64el", "arm64"), "arm"),
    ],
)
def test_arch_follows_maas_semantics(arch, expected):
    ready(hostname="x86", architecture="amd64/generic", cpu_count=1)
    ready(hostname="arm", architecture="arm64/generic", cpu_count=2)
    ready(hostname="armhf", architecture="armhf/hardbank", cpu_count=3)
    ready(hostname="amd64ish", architecture="amd64ish/generic", cpu_count=0)
    assert pick(arch=arch).hostname == expected


def test_arch_subarchitecture_must_match_exactly():
    ready(architecture="amd64/hwe-22.04")
    with pytest.raises(NoMatchingMachine):
        pick(arch=("amd64/generic",))


def test_cpu_count_is_a_minimum():
    ready(hostname="small", cpu_count=2)
    ready(hostname="big", cpu_count=8)
    assert pick(cpu_count=3).hostname == "big"
    assert pick(cpu_count=8).hostname == "big"


def test_mem_is_a_minimum_in_mib():
    ready(hostname="small", cpu_count=1, memory=2048)
    ready(hostname="big", cpu_count=1, memory=16384)
    assert pick(mem=4096).hostname == "big"


def test_tags_requires_all():
    gpu, ssd = TagFactory(name="gpu"), TagFactory(name="ssd")
    ready(hostname="gpu-only", cpu_count=1, tags=[gpu])
    ready(hostname="ssd-only", cpu_count=1, tags=[ssd])
    ready(hostname="both", cpu_count=16, tags=[gpu, ssd])
    assert pick(tags=("gpu", "ssd")).hostname == "both"
    assert pick(tags=("gpu",)).hostname == "gpu-only"


def test_not_tags_excludes_any():
    gpu, ssd = TagFactory(name="gpu"), TagFactory(name="ssd")
    ready(hostname="gpu", cpu_count=1, tags=[gpu])
    ready(hostname="ssd", cpu_count=2, tags=[ssd])
    ready(hostname="plain", cpu_count=3)
    assert pick(not_tags=("gpu", "ssd")).hostname == "plain"


def test_zone_and_not_in_zone():
    east, west = ZoneFactory(name="east"), ZoneFactory(name="west")
    ready(hostname="e", cpu_count=1, zone=east)
    ready(hostname="w", cpu_count=2, zone=west)
    ready(hostname="d", cpu_count=3)
    assert pick(zone="west").hostname == "w"
    assert pick(not_in_zone=("east", "west")).hostname == "d"


def test_pool_and_not_in_pool():
    gold, silver = ResourcePoolFactory(name="gold"), ResourcePoolFactory(name="silver")
    ready(hostname="g", cpu_count=1, pool=gold)
    ready(hostname="s", cpu_count=2, pool=silver)
    ready(hostname="d", cpu_count=3)
    assert pick(pool="silver").hostname == "s"
    assert pick(not_in_pool=("gold",)).hostname == "s"


def test_constraints_combine():
    gpu, east = TagFactory(name="gpu"), ZoneFactory(name="east")
    ready(hostname="a", cpu_count=8, tags=[gpu])
    ready(hostname="b", cpu_count=8, zone=east)
    wanted = ready(hostname="c", cpu_count=8, tags=[gpu], zone=east)
    ready(hostname="d", cpu_count=2, tags=[gpu], zone=east)
    assert pick(tags=("gpu",), zone="east", cpu_count=4) == wanted


# --- best fit ------------------------------------------------------------------------------

def test_best_fit_picks_smallest_cpu_count():
    ready(hostname="c16", cpu_count=16)
    ready(hostname="c4", cpu_count=4)
    ready(hostname="c8", cpu_count=8)
    assert pick(cpu_count=6).hostname == "c8"


def test_best_fit_breaks_cpu_ties_by_memory_then_hostname():
    ready(hostname="a-big", cpu_count=4, memory=32768)
    ready(hostname="z-small", cpu_count=4, memory=8192)
    ready(hostname="b-small", cpu_count=4, memory=8192)
    assert pick().hostname == "b-small"


# --- allocation writes ---------------------------------------------------------------------

def test_allocate_sets_owner_status_and_event():
    user = UserFactory()
    machine = ready()
    result = machine_allocate(user, AllocationConstraints(), comment="for CI")
    machine.refresh_from_db()
    assert result == machine
    assert machine.status == NodeStatus.ALLOCATED
    assert machine.owner == user
    event = Event.objects.get(machine=machine)
    assert (event.type, event.user, event.level) == ("allocate", user, EventLevel.AUDIT)
    assert "Ready → Allocated" in event.description
    assert "for CI" in event.description


def test_dry_run_changes_nothing():
    machine = ready()
    before = snapshot()
    chosen = machine_allocate(UserFactory(), AllocationConstraints(), dry_run=True)
    assert chosen == machine
    assert snapshot() == before
    assert not Event.objects.exists()


def test_successive_allocations_take_different_machines():
    ready(cpu_count=1)
    ready(cpu_count=2)
    user = UserFactory()
    first = machine_allocate(user, AllocationConstraints())
    second = machine_allocate(user, AllocationConstraints())
    assert first != second
    with pytest.raises(NoMatchingMachine):
        machine_allocate(user, AllocationConstraints())


@pytest.mark.parametrize(
    "status", [s for s in NodeStatus.values if s != NodeStatus.READY]
)
def test_non_ready_machines_never_chosen(status):
    MachineFactory(status=status)
    with pytest.raises(NoMatchingMachine):
        machine_allocate(UserFactory(), AllocationConstraints())


def test_owned_and_locked_machines_never_chosen():
    ready(cpu_count=1, owner=UserFactory())
    ready(cpu_count=2, locked=True)
    wanted = ready(cpu_count=64)
    assert machine_allocate(UserFactory(), AllocationConstraints()) == wanted


# --- invalid constraints -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        ({"zone": "nowhere"}, "zone"),
        ({"not_in_zone": ("nowhere",)}, "not_in_zone"),
        ({"pool": "nowhere"}, "pool"),
        ({"not_in_pool": ("nowhere",)}, "not_in_pool"),
        ({"tags": ("nowhere",)}, "tags"),
        ({"not_tags": ("nowhere",)}, "not_tags"),
    ],
)
def test_unknown_names_raise_invalid_constraint_keyed_by_field(constraints, field):
    ready()
    before = snapshot()
    with pytest.raises(InvalidConstraint) as info:
        machine_allocate(UserFactory(), AllocationConstraints(**constraints))
    assert list(info.value.errors) == [field]
    assert "nowhere" in info.value.errors[field][0]
    assert snapshot() == before
    assert not Event.objects.exists()


def test_all_unknown_names_reported_together():
    ZoneFactory(name="east")
    TagFactory(name="gpu")
    with pytest.raises(InvalidConstraint) as info:
        machine_allocate(
            UserFactory(),
            AllocationConstraints(zone="west", pool="gold", tags=("gpu", "fpga", "tpu")),
        )
    errors = info.value.errors
    assert set(errors) == {"zone", "pool", "tags"}
    assert len(errors["tags"]) == 2


# --- no match message ----------------------------------------------------------------------

def test_no_match_names_the_eliminating_constraint():
    TagFactory(name="gpu")
    for _ in range(3):
        ready(cpu_count=4)
    with pytest.raises(NoMatchingMachine) as info:
        machine_allocate(UserFactory(), AllocationConstraints(cpu_count=64, tags=("gpu",)))
    message = str(info.value)
    assert message.startswith("No Ready machine matches: cpu_count>=64, tags=gpu;")
    assert "3 Ready machines free, none with cpu_count>=64" in message


def test_no_match_when_later_constraint_eliminates():
    TagFactory(name="gpu")
    ready(cpu_count=4)
    ready(cpu_count=128)
    with pytest.raises(NoMatchingMachine) as info:
        machine_allocate(UserFactory(), AllocationConstraints(cpu_count=64, tags=("gpu",)))
    assert str(info.value) == (
        "No Ready machine matches: cpu_count>=64, tags=gpu; "
        "2 Ready machines free, 1 with cpu_count>=64, none of those with tags=gpu."
    )


def test_no_match_when_nothing_is_free():
    MachineFactory(status=NodeStatus.DEPLOYED)
    with pytest.raises(NoMatchingMachine) as info:
        machine_allocate(UserFactory(), AllocationConstraints(mem=1024))
    assert "mem>=1024" in str(info.value)
    assert "no Ready machine is free" in str(info.value)


def test_dry_run_with_no_match_raises():
    with pytest.raises(NoMatchingMachine):
        machine_allocate(UserFactory(), AllocationConstraints(), dry_run=True)
