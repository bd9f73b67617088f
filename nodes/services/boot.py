"""Boot decisions on the record: the decision a rack asked for goes on the machine's timeline."""
from nodes.choices import EventLevel
from nodes.models import Machine
from nodes.services.events import event_record
from zones.models import RackController


def boot_decision_record(decision: dict, rack: RackController | None) -> None:
    """Put the decision on the machine's boot timeline (unknown MACs have no timeline)."""
    if not decision.get("system_id"):
        return
    machine = Machine.objects.filter(system_id=decision["system_id"]).first()
    if machine is not None:
        event_record(machine=machine, type="boot_decision", level=EventLevel.DEBUG,
                     description=f"Boot decision for {decision['mac']}: {decision['action']}"
                                 f" (asked by rack {rack.name if rack else '-'})")
