"""The one place that chooses a rack queue and enqueues rack work.

Pure: the region hands in what it knows about racks (RackInfo); nothing here reads the
database, so rack-side code can import it too.
"""
import ipaddress
import zlib
from dataclasses import dataclass
from typing import Any

from celery import current_app

POWER_TASK = "rack_worker.tasks.power"


@dataclass(frozen=True)
class RackInfo:
    """A healthy rack and the subnets it is connected to."""

    name: str
    cidrs: tuple[str, ...] = ()

    @property
    def queue(self) -> str:
        return f"rack.{self.name}"


def choose_rack_queue(address: str, racks: list[RackInfo]) -> str | None:
    """A healthy rack connected to the BMC's subnet, else any healthy rack, else None.

    Among equals the choice is a stable hash of the address, so one BMC keeps going to the
    same rack while the load of many BMCs spreads over the racks.
    """
    if not racks:
        return None
    near = [rack for rack in racks if _on_subnet(address, rack.cidrs)]
    candidates = near or racks
    return candidates[zlib.crc32(address.encode()) % len(candidates)].queue


def _on_subnet(address: str, cidrs: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def enqueue_power(request: dict[str, Any], queue: str) -> None:
    """Send a power request to a rack queue; its secrets stay out of Celery's logs."""
    current_app.send_task(
        POWER_TASK, args=[request], queue=queue, argsrepr=repr([redacted(request)])
    )


def redacted(request: dict[str, Any]) -> dict[str, Any]:
    """The request with its driver's secret parameters replaced by ***."""
    secrets = set(request.get("secret_fields", ()))
    params = {k: "***" if k in secrets else v for k, v in request.get("params", {}).items()}
    return {**request, "params": params}
