"""Describe a machine's job (JSON) and render it as the busybox sh runner."""
import re
import shlex
from functools import cache
from pathlib import Path

from nodes.storage_layouts import plan_shell

RUNNER_TEMPLATE = Path(__file__).resolve().with_name("runner.sh")
ERASE_TEMPLATE = RUNNER_TEMPLATE.with_name("erase.sh")
RESCUE_TEMPLATE = RUNNER_TEMPLATE.with_name("rescue.sh")
LIB_TEMPLATE = RUNNER_TEMPLATE.with_name("lib.sh")
ERASE_MODES = ("quick", "full", "secure")
# Quick erase: zeroed at both ends of each disk and partition. Full/secure: random blocks read
# back besides the first and the last.
QUICK_ERASE_BYTES = 2 << 20
ERASE_SAMPLES = 64
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.+-]")
_UNSAFE_ENV = re.compile(r"[^A-Z0-9_]")
# Parameters never override what the runner itself sets or needs.
RESERVED_ENV = frozenset({"PATH", "HOME", "IFS", "PWD", "RESULT_PATH", "SHELL"})


def job_spec(*, system_id: str, job: str, script_set_id: int | None, results: list,
             heartbeat_interval: int, poweroff: bool, resumed: frozenset | set = frozenset(),
             more: bool = False) -> dict:
    """The job as JSON: the scripts to run now, in name order, with their parameters; `more`:
    the region held some back (the runner asks again after these); `has_started`: a may_reboot
    script that rebooted the machine, run again (MAAS's HAS_STARTED)."""
    scripts = []
    for result in sorted(results, key=lambda r: r.script_name):
        script = result.script
        may_reboot = bool(script and script.may_reboot)
        scripts.append({
            "id": result.pk, "name": result.script_name,
            "timeout": script.timeout if script else 0,
            # A script that may reboot the machine runs alone: nothing else is cut short.
            "parallel": script.parallel if script and not may_reboot else "disabled",
            "hardware_type": script.hardware_type if script else "node",
            "parameters": result.parameters or {},
            "may_reboot": may_reboot, "has_started": result.pk in resumed,
        })
    return {"system_id": system_id, "job": job, "script_set": script_set_id,
            "heartbeat_interval": heartbeat_interval, "poweroff": poweroff, "more": more,
            "scripts": scripts}


def parameter_env(parameters: dict) -> dict[str, str]:
    """Parameters as environment variables: `storage` -> STORAGE (MAAS-style {value} too)."""
    env = {}
    for name, value in (parameters or {}).items():
        key = _UNSAFE_ENV.sub("_", str(name).upper())
        if not key or key[0].isdigit() or key in RESERVED_ENV:
            continue
        if isinstance(value, dict):
            value = value.get("value", "")
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, list | tuple):
            value = " ".join(str(item) for item in value)
        env[key] = "" if value is None else str(value)
    return env


def render_runner(spec: dict, region_url: str) -> str:
    """The runner script for a job spec (the token stays out: /init passes it)."""
    lines, cases = [], []
    for script in spec["scripts"]:
        name = _UNSAFE_NAME.sub("_", script["name"])
        lines.append(f"{int(script['id'])} {name} {int(script['timeout'])} "
                     f"{_UNSAFE_NAME.sub('_', script['parallel'])} "
                     f"{int(bool(script.get('may_reboot')))} "
                     f"{int(bool(script.get('has_started')))}")
        exports = [f"export {key}={shlex.quote(value)}"
                   for key, value in parameter_env(script["parameters"]).items()]
        if exports:
            cases.append(f"        {int(script['id'])}) {'; '.join(exports)} ;;")
    values = {
        "@REGION@": region_url, "@SYSTEM_ID@": spec["system_id"], "@JOB@": spec["job"],
        "@HEARTBEAT@": str(int(spec["heartbeat_interval"])),
        "@MORE@": str(int(bool(spec.get("more")))),
        "@SCRIPTS@": "\n".join(lines), "@SCRIPT_ENV@": "\n".join(cases) or "        *) ;;",
        "@LIB@": _read(LIB_TEMPLATE),
    }
    text = _template()
    for marker, value in values.items():
        if marker in ("@REGION@", "@SYSTEM_ID@", "@JOB@"):
            value = _quote_inner(value)
        text = text.replace(marker, value)
    return text


def erase_job_spec(*, system_id: str, mode: str, fallback: str, disks: list[str],
                   heartbeat_interval: int) -> dict:
    """The erase job: its mode, the fallback when secure erase is unavailable, the disks (the
    inventory's; empty: every non-removable disk the environment finds), the heartbeat."""
    if mode not in ERASE_MODES or fallback not in ("quick", "full"):
        raise ValueError(f"bad erase mode {mode!r} / fallback {fallback!r}")
    return {"system_id": system_id, "job": "erase", "mode": mode, "secure_fallback": fallback,
            "disks": [_UNSAFE_NAME.sub("_", name) for name in disks],
            "quick_bytes": QUICK_ERASE_BYTES, "samples": ERASE_SAMPLES,
            "heartbeat_interval": heartbeat_interval, "poweroff": True}


def rescue_job_spec(*, system_id: str) -> dict:
    """The rescue job: the owner's keys (GET public-keys/), dropbear on port 22, report."""
    return {"system_id": system_id, "job": "rescue", "poweroff": False}


def render_job(spec: dict, region_url: str) -> str:
    """The sh script of any job spec: the erase and rescue jobs have their own."""
    if spec["job"] == "erase":
        return _render(ERASE_TEMPLATE, region_url, spec, {
            "@MODE@": spec["mode"], "@FALLBACK@": spec["secure_fallback"],
            "@DISKS@": " ".join(spec["disks"]), "@QUICK_BYTES@": str(int(spec["quick_bytes"])),
            "@SAMPLES@": str(int(spec["samples"])),
            "@HEARTBEAT@": str(int(spec["heartbeat_interval"])),
        })
    if spec["job"] == "rescue":
        return _render(RESCUE_TEMPLATE, region_url, spec, {})
    if spec["job"] == "deployment":
        return render_deploy_runner(spec, region_url)
    return render_runner(spec, region_url)


def _render(template: Path, region_url: str, spec: dict, values: dict[str, str]) -> str:
    text = _read(template).replace("@LIB@", _read(LIB_TEMPLATE))
    values = {"@REGION@": _quote_inner(region_url),
              "@SYSTEM_ID@": _quote_inner(spec["system_id"]), **values}
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


@cache
def _read(path: Path) -> str:
    return path.read_text()


def _quote_inner(value: str) -> str:
    """A value for inside "...": only characters that need no escaping there pass."""
    return re.sub(r"[^A-Za-z0-9_.:/%+=?&,-]", "", str(value))


@cache
def _template() -> str:
    return RUNNER_TEMPLATE.read_text()


DEPLOY_TEMPLATE = RUNNER_TEMPLATE.with_name("deploy.sh")


def render_deploy_runner(spec: dict, region_url: str) -> str:
    """The deploy runner for a deployment job spec (its image and disk; the token stays out)."""
    image, scripts = spec.get("image") or {}, spec.get("scripts") or []
    text = {
        "@IMAGE@": image.get("resource", ""), "@IMAGE_PATH@": image.get("path", ""),
        "@FORMAT@": image.get("format", ""), "@SHA256@": image.get("sha256", ""),
        "@DISK@": spec.get("disk", ""),
    }
    numbers = {
        "@HEARTBEAT@": int(spec["heartbeat_interval"]), "@SIZE@": int(image.get("size") or 0),
        "@RETRY_WAIT@": int(spec.get("retry_wait", 10)),
        # 0: no result to report on (it already ended: a restarted runner only reports).
        "@RESULT@": int(scripts[0]["id"]) if scripts else 0,
    }
    values = {marker: _quote_inner(value) for marker, value in text.items()}
    values.update((marker, str(number)) for marker, number in numbers.items())
    # Single-quoted values of the region's own plan (layout names, GUIDs, partition numbers).
    values["@STORAGE@"] = plan_shell(spec["storage"]) if spec.get("storage") else ""
    return _render(DEPLOY_TEMPLATE, region_url, spec, values)
