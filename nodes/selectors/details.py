"""What a machine's jobs left behind, read for MAAS's `details` and `get_curtin_config`."""
from nodes.choices import ResultType, ScriptStatus
from nodes.models import Machine, ScriptResult, ScriptSet


def machine_details(machine: Machine) -> dict[str, bytes]:
    """The output of each commissioning script, from its newest passed run: MAAS's details
    (lshw, lldp, ...) are the raw outputs of its commissioning scripts, keyed by name."""
    details: dict[str, bytes] = {}
    results = ScriptResult.objects.filter(
        script_set__machine=machine, script_set__result_type=ResultType.COMMISSIONING,
        status=ScriptStatus.PASSED).order_by("-script_set__created", "-script_set_id")
    for name, stdout in results.values_list("script_name", "stdout"):
        details.setdefault(name, bytes(stdout or b""))
    return details


def deployment_config(machine: Machine) -> dict | None:
    """The newest deployment job's configuration (the image, its checksum and format, the
    disk it is written to), or None if the machine was never deployed."""
    script_set = ScriptSet.objects.filter(
        machine=machine, result_type=ResultType.DEPLOYMENT).order_by("-created", "-id").first()
    if script_set is None:
        return None
    return {"system_id": machine.system_id, "created": script_set.created.isoformat(),
            **script_set.options}
