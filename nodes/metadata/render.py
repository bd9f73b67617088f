"""Describe a machine's job (JSON) and render it as the busybox sh runner."""
import re
import shlex
from functools import cache
from pathlib import Path

RUNNER_TEMPLATE = Path(__file__).resolve().with_name("runner.sh")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.+-]")
_UNSAFE_ENV = re.compile(r"[^A-Z0-9_]")
# Parameters never override what the runner itself sets or needs.
RESERVED_ENV = frozenset({"PATH", "HOME", "IFS", "PWD", "RESULT_PATH", "SHELL"})


def job_spec(*, system_id: str, job: str, script_set_id: int | None, results: list,
             heartbeat_interval: int, poweroff: bool) -> dict:
    """The job as JSON: the scripts still to run, in name order, with their parameters."""
    scripts = []
    for result in sorted(results, key=lambda r: r.script_name):
        script = result.script
        scripts.append({
            "id": result.pk, "name": result.script_name,
            "timeout": script.timeout if script else 0,
            "parallel": script.parallel if script else "disabled",
            "hardware_type": script.hardware_type if script else "node",
            "parameters": result.parameters or {},
        })
    return {"system_id": system_id, "job": job, "script_set": script_set_id,
            "heartbeat_interval": heartbeat_interval, "poweroff": poweroff, "scripts": scripts}


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
                     f"{_UNSAFE_NAME.sub('_', script['parallel'])}")
        exports = [f"export {key}={shlex.quote(value)}"
                   for key, value in parameter_env(script["parameters"]).items()]
        if exports:
            cases.append(f"        {int(script['id'])}) {'; '.join(exports)} ;;")
    values = {
        "@REGION@": region_url, "@SYSTEM_ID@": spec["system_id"], "@JOB@": spec["job"],
        "@HEARTBEAT@": str(int(spec["heartbeat_interval"])),
        "@SCRIPTS@": "\n".join(lines), "@SCRIPT_ENV@": "\n".join(cases) or "        *) ;;",
    }
    text = _template()
    for marker, value in values.items():
        if marker in ("@REGION@", "@SYSTEM_ID@", "@JOB@"):
            value = _quote_inner(value)
        text = text.replace(marker, value)
    return text


def _quote_inner(value: str) -> str:
    """A value for inside "...": only characters that need no escaping there pass."""
    return re.sub(r"[^A-Za-z0-9_.:/%+=?&,-]", "", str(value))


@cache
def _template() -> str:
    return RUNNER_TEMPLATE.read_text()
