"""Reads for the console's machine page: one machine with everything it shows, in fixed queries."""
from collections import defaultdict
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from maasproject.permissions import is_admin
from nodes import lifecycle
from nodes.choices import EventLevel, ResultType, ScriptStatus
from nodes.models import BlockDevice, Event, Interface, Machine, ScriptResult
from nodes.selectors import (
    BLOCK_DEVICE_FIELDS,
    commissioning_passed,
    links_by_interface,
    machines_visible_to,
    script_set_status,
    script_sets_of,
)
from nodes.services.permissions import may_run
from power.services.parameters import bmc_address, machine_power_parameters
from zones.choices import LeaseState
from zones.models import DHCPLease, ResourcePool, Zone

EVENTS_SHOWN = 50
SCRIPT_SETS_SHOWN = 12
TIMELINE_STEPS = 300
POWER_ACTIONS = ("power-on", "power-off", "power-cycle", "query-power-state")
# Script statuses as the status colours of base.html.
RESULT_CLASSES = {
    ScriptStatus.PASSED: "status-ready", ScriptStatus.FAILED: "status-failed",
    ScriptStatus.TIMEDOUT: "status-failed", ScriptStatus.ABORTED: "status-failed",
    ScriptStatus.PENDING: "status-progress", ScriptStatus.RUNNING: "status-progress",
}
# The events written along a boot, by kind (rack steps, region decisions, jobs, power).
TIMELINE_KINDS = (
    ("dhcp", ("dhcp_",)), ("tftp", ("tftp_",)), ("http", ("http_",)),
    ("decision", ("boot_decision", "boot_file_missing", "boot_unsupported_arch")),
    ("retry", ("boot_retry",)), ("power", ("power_",)),
    ("job", ("job_", "script_", "deploy", "erase_report", "rescue_", "cloudinit", "user_data_")),
    ("status", ("status_",)),
)
# The user actions that power or boot the machine (the timeline leaves set-zone, lock... out).
BOOT_ACTIONS = ("commission", "test", "deploy", "release", "abort", "rescue-mode",
                "exit-rescue-mode", "power-on", "power-off", "power-cycle")
# A new boot attempt starts with a job (its netboot) or a retry's power cycle.
ATTEMPT_STARTS = frozenset({"job_started", "boot_retry"})
# Steps that lead to a boot without being one: they open an attempt but do not end it.
PREAMBLE_KINDS = frozenset({"action", "power"})
INVENTORY_FACTS = ("inventory_dmi", "inventory_bmc", "inventory_firmware", "inventory_cpu")


def visible_machine(user, system_id: str) -> Machine:
    """The machine `user` may see (Machine.DoesNotExist for any other), with its BMC."""
    return machines_visible_to(user).select_related("bmc").get(system_id=system_id)


def machine_page(user, machine: Machine) -> dict:
    """Everything the machine page shows beyond the machine's own fields."""
    script_sets = machine_script_sets(machine)
    timeline = boot_timeline(machine)
    passed = _commissioning_passed(machine, script_sets)
    actions = actions_for(user, machine, commissioning_ok=passed)
    return {
        "tags": sorted(machine.tags.values_list("name", flat=True)),
        "interfaces": machine_interfaces(machine),
        "block_devices": list(BlockDevice.objects.filter(machine=machine).order_by("name")
                              .values(*BLOCK_DEVICE_FIELDS)),
        "facts": inventory_facts(machine),
        "bmc": bmc_summary(user, machine),
        "script_sets": script_sets,
        "attempts": timeline,
        "events": machine_events(machine),
        "power_actions": [(name, name in actions) for name in POWER_ACTIONS],
        "actions": [(name, name.replace("-", " ").capitalize()) for name in actions
                    if name not in POWER_ACTIONS],
        **_choices_for(actions),
    }


def actions_for(user, machine: Machine, *, commissioning_ok: bool = True) -> list[str]:
    """The actions `user` may run on `machine` now: the table's for its status and lock, the
    ones its rule lets this user run, and whose preconditions hold (as the services check)."""
    admin = is_admin(user)
    allowed = []
    for name in lifecycle.allowed_actions(machine.status, machine.locked):
        rule = lifecycle.ACTIONS[name]
        if not admin and not may_run(rule.who, owns=machine.owner_id == user.pk,
                                     unowned=machine.owner_id is None):
            continue
        if lifecycle.COMMISSIONING_PASSED in rule.requires and not commissioning_ok:
            continue
        allowed.append(name)
    return allowed


def _choices_for(actions: list[str]) -> dict:
    """Zones and pools for the set-zone and set-pool forms, read only when offered."""
    return {
        "zones": list(Zone.objects.order_by("name").values_list("name", flat=True))
        if "set-zone" in actions else [],
        "pools": list(ResourcePool.objects.order_by("name").values_list("name", flat=True))
        if "set-pool" in actions else [],
    }


def machine_interfaces(machine: Machine) -> list[dict]:
    """Interfaces with their VLAN, links (subnet, address) and active DHCP leases: 3 queries."""
    interfaces = list(Interface.objects.filter(machine=machine).order_by("name").values(
        "id", "name", "type", "mac_address", "enabled", "link_speed", "vlan_id", "vlan__vid",
        "vlan__name", "vlan__fabric__name"))
    links = links_by_interface([machine.pk])
    macs = [row["mac_address"] for row in interfaces if row["mac_address"]]
    leases = defaultdict(list)
    for mac, ip in DHCPLease.objects.filter(mac__in=macs, state=LeaseState.ACTIVE).order_by(
            "ip").values_list("mac", "ip"):
        leases[mac].append(ip)
    for row in interfaces:
        row["links"] = links[row["id"]]
        row["leases"] = leases[row["mac_address"]]
        row["vlan"] = _vlan_label(row)
    return interfaces


def _vlan_label(row: dict) -> str:
    if row["vlan_id"] is None:
        return ""
    name = f" ({row['vlan__name']})" if row["vlan__name"] else ""
    return f"{row['vlan__fabric__name']}.{row['vlan__vid']}{name}"


def inventory_facts(machine: Machine) -> list[tuple[str, str]]:
    """The newest DMI, BMC, firmware and CPU facts commissioning recorded (as events)."""
    newest = {}
    rows = (Event.objects.filter(machine=machine, type__in=INVENTORY_FACTS)
            .order_by("-created", "-id").values_list("type", "description")[:40])
    for kind, description in rows:
        newest.setdefault(kind, description)
    return [(kind.removeprefix("inventory_").upper() if kind == "inventory_dmi"
             else kind.removeprefix("inventory_").capitalize(), newest[kind])
            for kind in INVENTORY_FACTS if kind in newest]


def bmc_summary(user, machine: Machine) -> dict:
    """The power type for all; the BMC's address and parameters (secrets left out) for admins
    only, as the API's power-parameters endpoint."""
    if not is_admin(user):
        return {"power_type": machine.power_type, "address": None, "parameters": None}
    params = machine_power_parameters(machine)
    address = machine.bmc.address if machine.bmc_id else bmc_address(params)
    return {"power_type": machine.power_type, "address": address,
            "parameters": sorted(params.items())}


def machine_script_sets(machine: Machine) -> list[dict]:
    """The newest script sets with their results (outputs deferred): 2 queries."""
    sets = []
    for script_set in script_sets_of(machine)[:SCRIPT_SETS_SHOWN]:
        results = list(script_set.results.all())
        for result in results:
            result.css = RESULT_CLASSES.get(result.status, "status-other")
            result.duration = seconds_text(result_duration(result))
        status = script_set_status(results) if results else ScriptStatus.PENDING
        sets.append({"set": script_set, "results": results, "status": status,
                     "css": RESULT_CLASSES.get(status, "status-other"),
                     "label": ResultType(script_set.result_type).label})
    return sets


def _commissioning_passed(machine: Machine, sets: list[dict]) -> bool:
    """nodes.selectors.commissioning_passed, from the sets already read when they hold the
    latest commissioning (only a long run of newer sets sends it to the database)."""
    latest = next((s for s in sets if s["set"].result_type == ResultType.COMMISSIONING), None)
    if latest is None and len(sets) == SCRIPT_SETS_SHOWN:
        return commissioning_passed(machine)
    return bool(latest and latest["results"]) and latest["status"] == ScriptStatus.PASSED


def result_duration(result: ScriptResult) -> float | None:
    """Seconds a script ran: its runtime, else ended - started, else so far if running."""
    if result.runtime is not None:
        return result.runtime
    if result.started is None:
        return None
    end = result.ended or (timezone.now() if result.status == ScriptStatus.RUNNING else None)
    return (end - result.started).total_seconds() if end else None


def seconds_text(seconds: float | None) -> str:
    """12.3 -> "12.3 s", 125 -> "2 min 5 s", 7260 -> "2 h 1 min"; empty for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def machine_result(machine: Machine, result_id: int) -> ScriptResult:
    """One result of the machine with its outputs (ScriptResult.DoesNotExist for others)."""
    return ScriptResult.objects.select_related("script_set").get(
        pk=result_id, script_set__machine=machine)


def machine_events(machine: Machine) -> list[Event]:
    """The machine's latest events, newest first."""
    return list(Event.objects.filter(machine=machine).select_related("user")
                .order_by("-created", "-id")[:EVENTS_SHOWN])


def _kind(event_type: str) -> str:
    for kind, prefixes in TIMELINE_KINDS:
        if event_type.startswith(prefixes):
            return kind
    return "action"


def _timeline_filter() -> Q:
    condition = Q(type__in=BOOT_ACTIONS)
    for _kind_name, prefixes in TIMELINE_KINDS:
        for prefix in prefixes:
            condition |= Q(type__startswith=prefix)
    return condition


def boot_timeline(machine: Machine) -> list[dict]:
    """The machine's latest boot steps, oldest first, grouped into boot attempts; each step
    with its kind, its duration (to the next step) and its bar's place in its attempt."""
    rows = list(Event.objects.filter(_timeline_filter(), machine=machine)
                .order_by("-created", "-id")
                .values("id", "created", "type", "level", "description")[:TIMELINE_STEPS])
    rows.reverse()
    for row, following in zip(rows, [*rows[1:], None], strict=False):
        row["kind"] = _kind(row["type"])
        row["duration"] = ((following["created"] - row["created"]).total_seconds()
                           if following else None)
        row["duration_text"] = seconds_text(row["duration"])
        row["warning"] = row["level"] >= EventLevel.WARNING
    return [_place_bars(steps) for steps in _attempts(rows)]


def _attempts(rows: list[dict]) -> list[list[dict]]:
    """Split steps into boot attempts. One starts at a user action, a job start or a retry
    (unless the attempt so far is only the action and power steps leading to it), or at a DHCP
    exchange after the current attempt already went past DHCP (the machine booted again)."""
    attempts: list[list[dict]] = []
    for row in rows:
        current = attempts[-1] if attempts else None
        if current is None or _starts_attempt(row, current):
            attempts.append([row])
        else:
            current.append(row)
    return attempts


def _starts_attempt(row: dict, current: list[dict]) -> bool:
    if row["type"] in ATTEMPT_STARTS or row["kind"] == "action":
        return not all(step["kind"] in PREAMBLE_KINDS for step in current)
    if row["kind"] == "dhcp":
        booted = any(step["kind"] == "dhcp" for step in current)
        return booted and current[-1]["kind"] != "dhcp"
    return False


def _place_bars(steps: list[dict]) -> dict:
    """An attempt: its start, span and steps, each with its bar's offset and width (%)."""
    start: datetime = steps[0]["created"]
    end = steps[-1]["created"]
    span = max((end - start).total_seconds(), 0.001)
    for step in steps:
        within = min(step["duration"] or 0.0, (end - step["created"]).total_seconds())
        step["offset"] = round(100 * (step["created"] - start).total_seconds() / span, 2)
        step["width"] = max(round(100 * within / span, 2), 0.5)
        step["offset"] = min(step["offset"], 99.5)
    return {"start": start, "end": end, "span": seconds_text((end - start).total_seconds()),
            "steps": steps, "title": _attempt_title(steps)}


def _attempt_title(steps: list[dict]) -> str:
    """What the attempt was: the job started or the action asked for, a retry, else a boot."""
    job = next((step for step in steps if step["type"] == "job_started"), None)
    if job is not None:
        return job["description"].split(":")[0]
    first = steps[0]
    if first["type"] == "boot_retry":
        return "PXE boot retry"
    if first["kind"] == "action":
        return first["type"].replace("-", " ")
    return "Boot"
