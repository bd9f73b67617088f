"""Allocation reads: constraints, the query filters they become, the best-fit candidates, and
the error that says which constraint eliminated the last candidate.

Names of zones, pools and tags are resolved here (unknown ones raise InvalidConstraint, keyed
by the constraint); values are parsed by the API serializer.
"""
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from nodes.choices import NodeStatus
from nodes.models import Machine, Tag
from nodes.services.errors import InvalidConstraint, NoMatchingMachine
from zones.models import ResourcePool, Zone

# Best fit: the "smallest" machine that satisfies everything, so big ones stay free.
BEST_FIT_ORDER = ("cpu_count", "memory", "hostname", "id")
# MAAS's architecture aliases: a bare name matches every subarchitecture of these.
ARCH_ALIASES = {"arm": "armhf", "aarch64": "arm64", "x86_64": "amd64", "ppc64le": "ppc64el"}


@dataclass(frozen=True)
class AllocationConstraints:
    """What the requested machine must (and must not) be; empty fields do not constrain."""

    name: str = ""
    system_id: str = ""
    arch: tuple[str, ...] = ()
    cpu_count: int | None = None
    mem: int | None = None
    tags: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    zone: str = ""
    not_in_zone: tuple[str, ...] = ()
    pool: str = ""
    not_in_pool: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return the constraints as text, e.g. `cpu_count>=64, tags=gpu`."""
        return ", ".join(label for label, _ in _labelled_values(self)) or "(no constraints)"


@dataclass(frozen=True)
class Filter:
    """One constraint turned into a query condition, with the text used in messages."""

    label: str
    condition: Q


def _labelled_values(c: AllocationConstraints) -> list[tuple[str, str]]:
    """Return (label, field) for every constraint that is set, in a fixed order."""
    parts = [
        (f"name={c.name}", "name") if c.name else None,
        (f"system_id={c.system_id}", "system_id") if c.system_id else None,
        (f"arch={','.join(c.arch)}", "arch") if c.arch else None,
        (f"cpu_count>={c.cpu_count}", "cpu_count") if c.cpu_count is not None else None,
        (f"mem>={c.mem}", "mem") if c.mem is not None else None,
        (f"tags={','.join(c.tags)}", "tags") if c.tags else None,
        (f"not_tags={','.join(c.not_tags)}", "not_tags") if c.not_tags else None,
        (f"zone={c.zone}", "zone") if c.zone else None,
        (f"not_in_zone={','.join(c.not_in_zone)}", "not_in_zone") if c.not_in_zone else None,
        (f"pool={c.pool}", "pool") if c.pool else None,
        (f"not_in_pool={','.join(c.not_in_pool)}", "not_in_pool") if c.not_in_pool else None,
    ]
    return [part for part in parts if part is not None]


def available_machines() -> QuerySet[Machine]:
    """Machines that can be allocated at all: Ready, unowned and unlocked."""
    return Machine.objects.filter(status=NodeStatus.READY, owner__isnull=True, locked=False)


def candidates(filters: list[Filter]) -> QuerySet[Machine]:
    """Available machines that pass every filter, smallest first (BEST_FIT_ORDER)."""
    condition = Q()
    for item in filters:
        condition &= item.condition
    return available_machines().filter(condition).order_by(*BEST_FIT_ORDER)


def build_filters(c: AllocationConstraints) -> list[Filter]:
    """Turn constraints into filters, resolving names; raise InvalidConstraint if any is unknown."""
    errors: dict[str, list[str]] = {}
    zones = _resolve(Zone, "zone", [c.zone] if c.zone else [], errors)
    not_zones = _resolve(Zone, "not_in_zone", c.not_in_zone, errors)
    pools = _resolve(ResourcePool, "pool", [c.pool] if c.pool else [], errors)
    not_pools = _resolve(ResourcePool, "not_in_pool", c.not_in_pool, errors)
    tags = _resolve(Tag, "tags", c.tags, errors)
    not_tags = _resolve(Tag, "not_tags", c.not_tags, errors)
    if errors:
        raise InvalidConstraint(errors)
    builders: dict[str, Callable[[], Q]] = {
        "name": lambda: Q(hostname=c.name),
        "system_id": lambda: Q(system_id=c.system_id),
        "arch": lambda: arch_condition(c.arch),
        "cpu_count": lambda: Q(cpu_count__gte=c.cpu_count),
        "mem": lambda: Q(memory__gte=c.mem),
        "tags": lambda: _all_tags_condition(tags),
        "not_tags": lambda: ~Q(pk__in=_tagged_with(not_tags)),
        "zone": lambda: Q(zone__in=zones),
        "not_in_zone": lambda: ~Q(zone__in=not_zones),
        "pool": lambda: Q(pool__in=pools),
        "not_in_pool": lambda: ~Q(pool__in=not_pools),
    }
    return [Filter(label, builders[field]()) for label, field in _labelled_values(c)]


def _resolve(model, field: str, names, errors: dict[str, list[str]]) -> list:
    """Look up objects by name; record the missing names in errors[field]."""
    names = list(dict.fromkeys(names))
    found = {obj.name: obj for obj in model.objects.filter(name__in=names)}
    missing = [name for name in names if name not in found]
    if missing:
        noun = model._meta.verbose_name
        errors.setdefault(field, []).extend(f"No such {noun}: '{name}'." for name in missing)
    return list(found.values())


def _tagged_with(tags: list[Tag]) -> QuerySet:
    """Subquery: ids of machines carrying any of `tags`."""
    return Machine.tags.through.objects.filter(tag__in=tags).values("machine_id")


def _all_tags_condition(tags: list[Tag]) -> Q:
    """Machines carrying every one of `tags` (one subquery per tag, so no joins)."""
    condition = Q()
    for tag in tags:
        condition &= Q(pk__in=_tagged_with([tag]))
    return condition


def arch_condition(arches: tuple[str, ...]) -> Q:
    """MAAS semantics: `amd64` matches `amd64` and `amd64/<any>`, `x/y` exactly, `x/*` any x.

    Several values match any of them; `arm` is an alias of `armhf` (and so on, ARCH_ALIASES).
    """
    condition = Q(pk__in=[])
    for arch in arches:
        primary, _, sub = arch.partition("/")
        primary = ARCH_ALIASES.get(primary, primary)
        if sub and sub != "*":
            condition |= Q(architecture=f"{primary}/{sub}")
        else:
            condition |= Q(architecture=primary) | Q(architecture__startswith=f"{primary}/")
    return condition


def no_match_error(c: AllocationConstraints, filters: list[Filter]) -> NoMatchingMachine:
    """Build the 409 error: the constraints, and which one eliminated the last candidates."""
    head = f"No Ready machine matches: {c.describe()}"
    available = available_machines()
    total = available.count()
    if total == 0:
        return NoMatchingMachine(f"{head}; no Ready machine is free (unowned and unlocked).")
    steps = [f"{_machines(total)} free"]
    remaining, condition = total, Q()
    for item in filters:
        condition &= item.condition
        remaining = available.filter(condition).count()
        if remaining == 0:
            lead = "none with" if len(steps) == 1 else "none of those with"
            steps.append(f"{lead} {item.label}")
            break
        steps.append(f"{remaining} with {item.label}")
    else:
        steps.append("all of them taken by concurrent requests")
    return NoMatchingMachine(f"{head}; {', '.join(steps)}.")


def _machines(count: int) -> str:
    return f"{count} Ready machine" + ("" if count == 1 else "s")
