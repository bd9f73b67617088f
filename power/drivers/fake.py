"""Fake power driver: in-memory machines for tests and development, with scripted failures."""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from power.drivers.base import (
    BOOT_DEVICES,
    OFF_MODES,
    POWER_OFF,
    POWER_ON,
    PowerAuthError,
    PowerConnectionError,
    PowerDriver,
    PowerError,
    PowerSettingsError,
    PowerTimeoutError,
    PowerUnsupportedError,
    SettingField,
)

FAILURES: dict[str, Callable[[str], PowerError]] = {
    "auth": lambda op: PowerAuthError(f"Fake BMC refused the credentials ({op})."),
    "connection": lambda op: PowerConnectionError(f"Fake BMC unreachable ({op})."),
    "timeout": lambda op: PowerTimeoutError(f"Fake BMC did not answer in time ({op})."),
    "unsupported": lambda op: PowerUnsupportedError(f"Fake BMC cannot {op}."),
}
DEFAULT_FAKE_ID = "default"
# Held (flock) by a running simulator in FAKE_POWER_STATE_DIR; see unattended_reason.
SIMULATOR_LOCK = ".simulator.lock"
ATTACH_HINT = ("run `make demo SIMULATED=1`, or attach a simulator with `python -m lab.sim` "
               "(see README \"Try it without hardware\")")


@dataclass
class FakeMachine:
    """The state of one fake machine; `calls` lists every attempted operation, failed or not."""

    power_state: str = POWER_OFF
    boot_device: str = "disk"
    boot_persistent: bool = True
    efi: bool = False
    failures: int = 0
    calls: list[str] = field(default_factory=list)


_machines: dict[str, FakeMachine] = {}
_lock = threading.Lock()


def get_fake_machine(fake_id: str = DEFAULT_FAKE_ID) -> FakeMachine:
    """The process-wide fake machine with this id, created powered off on first use."""
    with _lock:
        return _machines.setdefault(fake_id, FakeMachine())


def state_file_name(fake_id: str) -> str:
    """The name of a fake machine's state file in FAKE_POWER_STATE_DIR."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in fake_id) + ".json"


@contextmanager
def locked_state(folder: str, fake_id: str):
    """A fake machine's state in `folder`, under an exclusive lock, written back at the end.

    The simulator (lab/sim) uses it too: it presses the power button, and a simulated OS
    powers itself off, through the same file the rack worker's driver writes.
    """
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, state_file_name(fake_id)), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        machine = FakeMachine(**json.loads(text)) if text else FakeMachine()
        try:
            yield machine
        finally:
            handle.seek(0)
            handle.truncate()
            json.dump(asdict(machine), handle)


@contextmanager
def _locked_machine(fake_id: str):
    """The machine's state under a lock: in this process, or in FAKE_POWER_STATE_DIR.

    A rack worker runs several processes; with FAKE_POWER_STATE_DIR set (python -m rack_worker
    sets it) they share one state per fake machine through a locked JSON file.
    """
    folder = os.environ.get("FAKE_POWER_STATE_DIR")
    if not folder:
        machine = get_fake_machine(fake_id)  # takes _lock itself: get it before locking
        with _lock:
            yield machine
        return
    with locked_state(folder, fake_id) as machine:
        yield machine


def unattended_reason(folder: str, fake_id: str) -> str:
    """Why powering this fake machine on makes nothing boot ("" when a simulator runs it).

    A simulator (python -m lab.sim) holds an exclusive lock on SIMULATOR_LOCK in the state
    directory while it runs, and lists there the fake ids it simulates; the lock goes with
    its process, so a crashed simulator counts as absent.
    """
    try:
        handle = open(os.path.join(folder, SIMULATOR_LOCK))
    except FileNotFoundError:
        return f"no simulator is attached to this fake BMC ({folder}): the machine will not " \
               f"boot; {ATTACH_HINT}"
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a simulator runs
            try:
                simulated = json.loads(handle.read() or "{}").get("fake_ids", [])
            except ValueError:
                simulated = []
            if fake_id in simulated:
                return ""
            return f"the simulator attached to {folder} does not simulate fake id " \
                   f"{fake_id!r}: the machine will not boot; {ATTACH_HINT}"
    return f"no simulator is attached to this fake BMC ({folder}; its last one stopped): " \
           f"the machine will not boot; {ATTACH_HINT}"


def reset_fake_machines() -> None:
    """Forget every fake machine (for test isolation)."""
    with _lock:
        _machines.clear()


class FakeDriver(PowerDriver):
    """A BMC that lives in this process's memory; `fail_with` makes it misbehave on purpose."""

    name = "fake"
    description = "Fake (in memory, for tests and development)"
    queryable = True
    can_set_boot_device = True
    settings = (
        SettingField(
            "fake_id", "Fake machine id (one state per id; use the system id)",
            default=DEFAULT_FAKE_ID, scope="node",
        ),
        SettingField(
            "fail_with", "Fail every operation with",
            type="choice", default="none",
            choices=(("none", "Do not fail"), ("auth", "Authentication error"),
                     ("connection", "Connection error"), ("timeout", "Timeout"),
                     ("unsupported", "Unsupported operation")),
        ),
        SettingField(
            "fail_count", "Fail only the first N operations (0: fail all)",
            type="int", default=0, min_value=0,
        ),
        SettingField(
            "delay", "Delay before each operation (ms)",
            type="int", default=0, min_value=0, max_value=60_000,
        ),
    )

    @property
    def machine(self) -> FakeMachine:
        return get_fake_machine(self.params["fake_id"])

    @contextmanager
    def _operate(self, operation: str):
        """Wait the delay, record the call, fail if the settings say so, else yield the state."""
        if self.params["delay"]:
            time.sleep(self.params["delay"] / 1000)
        with _locked_machine(self.params["fake_id"]) as machine:
            machine.calls.append(operation)
            failure = FAILURES.get(self.params["fail_with"])
            limit = self.params["fail_count"]
            if failure is not None and not (limit and machine.failures >= limit):
                machine.failures += 1
                raise failure(operation)
            yield machine

    def power_on(self, *, netboot: bool = False, efi: bool = False) -> None:
        with self._operate("power_on") as machine:
            if netboot:
                machine.boot_device, machine.boot_persistent, machine.efi = "pxe", False, efi
            machine.power_state = POWER_ON
        folder = os.environ.get("FAKE_POWER_STATE_DIR")
        reason = unattended_reason(folder, self.params["fake_id"]) if folder else ""
        if reason:  # else commissioning would wait, silent, for its deadline
            self.notes.append(reason)

    def power_off(self, *, mode: str = "hard") -> None:
        if mode not in OFF_MODES:
            raise PowerSettingsError({"mode": [f"Choose one of: {', '.join(OFF_MODES)}."]})
        with self._operate(f"power_off:{mode}") as machine:
            machine.power_state = POWER_OFF

    def power_query(self) -> str:
        with self._operate("power_query") as machine:
            return machine.power_state

    def set_boot_device(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        if device not in BOOT_DEVICES:
            raise PowerUnsupportedError(f"Fake BMC cannot boot from {device!r}.")
        with self._operate(f"set_boot_device:{device}") as machine:
            machine.boot_device, machine.boot_persistent, machine.efi = device, persistent, efi
