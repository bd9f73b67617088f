"""Script writes (admin only), built-in script sync, and script sets with their pending results."""
from pathlib import Path

from django.db import transaction

from maasproject.permissions import require_admin
from nodes.choices import HardwareType, ResultType, ScriptType
from nodes.models import Machine, Script, ScriptResult, ScriptSet
from nodes.scripts.metadata import normalise_fields, parse_script_metadata
from nodes.services.errors import ScriptProtected, UnknownScripts
from nodes.services.events import event_record

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "scripts" / "builtin"
# Script sets kept per machine and result type; older ones go when a new one is created.
KEEP_SCRIPT_SETS = 10
SCRIPT_FIELDS = frozenset({"name", "title", "description", "tags", "script_type",
                           "hardware_type", "parallel", "timeout", "destructive", "parameters",
                           "for_hardware", "may_reboot", "recommission", "packages"})


def _script_fields(body: str, fields: dict) -> dict:
    """Metadata from the body, overridden by explicit fields (validated the same way)."""
    unknown = set(fields) - SCRIPT_FIELDS
    if unknown:
        raise TypeError(f"Unknown script fields: {', '.join(sorted(unknown))}")
    explicit = {key: value for key, value in fields.items() if value is not None}
    return {**parse_script_metadata(body), **normalise_fields(explicit)}


@transaction.atomic
def script_create(user, *, name: str | None = None, body: str, **fields) -> Script:
    """Create a user script from its body (embedded metadata) and explicit fields."""
    require_admin(user, "create scripts")
    script = Script(body=body, **_script_fields(body, {"name": name, **fields}))
    script.full_clean()
    script.save()
    event_record(machine=None, type="script_created", user=user,
                 description=f"Script {script.name} ({script.script_type})")
    return script


@transaction.atomic
def script_update(user, current_name: str, /, **fields) -> Script:
    """Change a user script (`name` renames it); a new body brings its metadata, fields win."""
    require_admin(user, "edit scripts")
    script = Script.objects.select_for_update().get(name=current_name)
    if script.default:
        raise ScriptProtected(f"Script {current_name} is built in and cannot be edited.")
    body = fields.pop("body", None)
    changes = _script_fields(body if body is not None else "", fields)
    if body is not None:
        script.body = body
    for key, value in changes.items():
        setattr(script, key, value)
    script.full_clean()
    script.save()
    event_record(machine=None, type="script_updated", user=user,
                 description=f"Script {script.name}")
    return script


@transaction.atomic
def script_delete(user, name: str) -> None:
    """Delete a user script; its past results keep their script_name."""
    require_admin(user, "delete scripts")
    script = Script.objects.select_for_update().get(name=name)
    if script.default:
        raise ScriptProtected(f"Script {name} is built in and cannot be deleted.")
    event_record(machine=None, type="script_deleted", user=user, description=f"Script {name}")
    script.delete()


def builtin_scripts_sync(directory: Path = BUILTIN_DIR) -> None:
    """Create or update the built-in Script rows from their files; drop vanished built-ins."""
    names = []
    with transaction.atomic():
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                names.append(_builtin_sync_one(path))
        Script.objects.filter(default=True).exclude(name__in=names).delete()


def _builtin_sync_one(path: Path) -> str:
    body = path.read_text()
    fields = {"name": path.name, **parse_script_metadata(body), "body": body, "default": True}
    script = Script.objects.filter(name=fields["name"]).first() or Script()
    if any(getattr(script, key) != value for key, value in fields.items()):
        for key, value in fields.items():  # saved only when changed: `updated` means a change
            setattr(script, key, value)
        script.full_clean()
        script.save()
    return script.name


def _select(script_type: str, tokens: list[str]) -> list[Script]:
    """Scripts of a type named or tagged by `tokens`; UnknownScripts for the rest."""
    candidates = list(Script.objects.filter(script_type=script_type))
    chosen, unknown = {}, []
    for token in dict.fromkeys(t.strip() for t in tokens if t and t.strip()):
        matches = [s for s in candidates if s.name == token or token in s.tags]
        if not matches:
            unknown.append(token)
        chosen.update((s.name, s) for s in matches)
    if unknown:
        raise UnknownScripts(unknown, script_type)
    return list(chosen.values())


def _commissioning_scripts(scripts: list[str] | None, options: dict) -> list[Script]:
    skipped = set()
    if options.get("skip_storage"):
        skipped.add(HardwareType.STORAGE)
    if options.get("skip_networking"):
        skipped.add(HardwareType.NETWORK)
    builtins = Script.objects.filter(script_type=ScriptType.COMMISSIONING, default=True)
    selected = {s.name: s for s in builtins.exclude(hardware_type__in=skipped)}
    for script in _select(ScriptType.COMMISSIONING, scripts or []):
        selected.setdefault(script.name, script)
    return list(selected.values())


def _testing_scripts(scripts: list[str] | None) -> list[Script]:
    if scripts is None:
        # Filtered in Python: JSON containment is not portable to SQLite, and scripts are few.
        testing = Script.objects.filter(script_type=ScriptType.TESTING)
        return [script for script in testing if "default" in script.tags]
    return _select(ScriptType.TESTING, scripts)


def default_parameters(script: Script) -> dict:
    """{parameter name: its default} for the parameters of a script that declare one."""
    return {name: spec["default"] for name, spec in (script.parameters or {}).items()
            if isinstance(spec, dict) and "default" in spec}


@transaction.atomic
def script_set_create(
    machine: Machine, result_type: str, *, scripts: list[str] | None = None,
    options: dict | None = None,
) -> ScriptSet:
    """A script set for a job with one pending result per selected script (older sets pruned).

    Commissioning (and enlistment) runs every built-in commissioning script, less the storage
    or network ones with options skip_storage / skip_networking, plus the user commissioning
    scripts named or tagged in `scripts`. Testing runs the testing scripts named or tagged in
    `scripts`, or those tagged `default` when `scripts` is None.
    """
    if result_type not in ResultType.values:
        raise ValueError(f"Unknown result type {result_type!r}")
    options = dict(options or {})
    if result_type == ResultType.TESTING:
        selected = _testing_scripts(scripts)
    else:
        selected = _commissioning_scripts(scripts, options)
    script_set = ScriptSet.objects.create(machine=machine, result_type=result_type,
                                          options=options)
    ScriptResult.objects.bulk_create(
        ScriptResult(script_set=script_set, script=script, script_name=script.name,
                     parameters=default_parameters(script))
        for script in sorted(selected, key=lambda s: s.name)
    )
    _prune(machine, result_type)
    return script_set


def _prune(machine: Machine, result_type: str) -> None:
    """Delete all but the newest KEEP_SCRIPT_SETS script sets of this machine and type."""
    keep = ScriptSet.objects.filter(machine=machine, result_type=result_type).order_by(
        "-created", "-id").values_list("id", flat=True)[:KEEP_SCRIPT_SETS]
    ScriptSet.objects.filter(machine=machine, result_type=result_type).exclude(
        id__in=list(keep)).delete()
