"""Carry out one power request with the registered drivers (pure: request in, state out)."""
import threading
from collections.abc import Callable
from typing import Any

from power.drivers.base import POWER_OFF, POWER_ON
from power.drivers.registry import get_registry

EXPECTED_STATE = {"on": POWER_ON, "off": POWER_OFF, "soft-off": POWER_OFF, "cycle": POWER_ON}


def perform_power_action(request: dict[str, Any], notes: list[str] | None = None) -> str:
    """Run the request's action; return the power state after it (`on` or `off`).

    What the driver noted for the operator (a fake BMC nothing simulates) goes into `notes`.
    """
    driver = get_registry().get(request["power_type"])(request.get("params", {}))
    try:
        return _perform(driver, request)
    finally:
        if notes is not None:
            notes.extend(driver.notes)


def _perform(driver, request: dict[str, Any]) -> str:
    action = request["action"]
    boot = {"netboot": bool(request.get("netboot")), "efi": bool(request.get("efi"))}
    if action == "query":
        return driver.power_query()
    if action == "on":
        driver.power_on(**boot)
    elif action == "off":
        driver.power_off(mode="hard")
    elif action == "soft-off":
        driver.power_off(mode="soft")
    elif action == "cycle":
        driver.power_cycle(**boot)
    else:
        raise ValueError(f"Unknown power action {action!r}")
    return EXPECTED_STATE[action]


class DeadlineExceeded(Exception):
    """A power call did not return within its deadline."""


def call_with_deadline(function: Callable[[], Any], seconds: float) -> Any:
    """function()'s result or exception, or DeadlineExceeded after `seconds`.

    Celery's soft time limit alone does not always fire in a prefork child (celery#6873: now
    and then a task ran past it to its end), so the deadline is kept here too. A call past it is
    left to finish in its daemon thread: drivers have timeouts of their own.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="power-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise DeadlineExceeded(f"no answer within {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
