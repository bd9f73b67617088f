"""Event services: every lifecycle change and user action writes one."""
from nodes.choices import EventLevel
from nodes.models import Event, Machine


def event_record(
    *,
    machine: Machine | None,
    type: str,
    description: str = "",
    level: int = EventLevel.INFO,
    user=None,
    hostname: str = "",
) -> Event:
    """Write an Event for a machine (or for the region when machine is None)."""
    return Event.objects.create(
        machine=machine,
        hostname=machine.hostname if machine else hostname,
        type=type,
        description=description,
        level=level,
        user=user if user is not None and user.is_authenticated else None,
    )
