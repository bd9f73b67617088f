"""The one place that chooses a rack queue and enqueues rack work.

Pure: the region hands in what it knows about racks (RackInfo); nothing here reads the
database, so rack-side code can import it too.
"""
import ipaddress
import os
import zlib
from dataclasses import dataclass
from typing import Any

from celery import current_app

from rack_worker.sealing import seal

POWER_TASK = "rack_worker.tasks.power"
CHASSIS_TASK = "rack_worker.chassis.discover_chassis"
# Where a rack reports a chassis discovery (systems found, or why not): a region task.
CHASSIS_RESULT_TASK = "nodes.chassis_tasks.record_chassis_outcome"
# Seconds after which a power request not yet started is not carried out but reported failed
# (rack_worker.tasks.report_expired). Jobs are redelivered when a rack worker dies
# (rack_worker/celery_app.py); one that comes back much later could undo a newer request (an
# old power on after an operator's power off). Longer than the visibility timeout (300 s) and
# the queueing of a power sweep, so only a rack down for minutes loses its jobs, each with a
# clear failure event. Rack and region clocks must agree to within seconds (NTP).
DEFAULT_POWER_REQUEST_EXPIRES = 600.0


@dataclass(frozen=True)
class RackInfo:
    """A healthy rack and the subnets it is connected to."""

    name: str
    cidrs: tuple[str, ...] = ()
    power_key: str = ""  # the key power parameters are sealed with for this rack

    @property
    def queue(self) -> str:
        return f"rack.{self.name}"


def choose_rack(address: str, racks: list[RackInfo]) -> RackInfo | None:
    """A healthy rack connected to the BMC's subnet, else any healthy rack, else None.

    Among equals the choice is a stable hash of the address, so one BMC keeps going to the
    same rack while the load of many BMCs spreads over the racks.
    """
    if not racks:
        return None
    near = [rack for rack in racks if _on_subnet(address, rack.cidrs)]
    candidates = near or racks
    return candidates[zlib.crc32(address.encode()) % len(candidates)]


def _on_subnet(address: str, cidrs: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def enqueue_power(request: dict[str, Any], rack: RackInfo) -> None:
    """Send a power request to the rack's queue, its parameters sealed with the rack's key."""
    current_app.send_task(POWER_TASK, args=[seal(request, rack.power_key)], queue=rack.queue,
                          argsrepr=repr([redacted(request)]), expires=power_request_expires())


def choose_chassis_rack(address: str, racks: list[RackInfo]) -> RackInfo | None:
    """The rack for a chassis at `address`: the one its machines' power requests will go to
    (choose_rack), so that an address with no host (libvirt's qemu:///system, the rack's own
    hypervisor) is discovered and powered by the same healthy rack."""
    return choose_rack(address, racks)


def enqueue_chassis(request: dict[str, Any], rack: RackInfo) -> None:
    """Send a chassis discovery to the rack's queue, its parameters sealed as power requests'."""
    current_app.send_task(CHASSIS_TASK, args=[seal(request, rack.power_key)], queue=rack.queue,
                          argsrepr=repr([redacted(request)]))


def power_request_expires() -> float:
    """POWER_REQUEST_EXPIRES (seconds), read at each request."""
    return float(os.environ.get("POWER_REQUEST_EXPIRES") or DEFAULT_POWER_REQUEST_EXPIRES)


def redacted(request: dict[str, Any]) -> dict[str, Any]:
    """The request with its driver's secret parameters replaced by ***, for logs."""
    secrets = set(request.get("secret_fields", ()))
    params = {k: "***" if k in secrets else v for k, v in request.get("params", {}).items()}
    return {**request, "params": params}
