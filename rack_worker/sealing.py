"""Power parameters sealed for one rack: the broker carries ciphertext, only that rack opens it.

The region seals a request's parameters (BMC passwords among them) with the key of the rack it
sends the request to; the rack's worker opens them just before the driver call. The key is the
rack's own (`power_key`, handed out at registration and on every heartbeat, kept in the rack's
0600 credentials file), so neither the broker nor another rack can read them.
"""
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class SealError(Exception):
    """A sealed request this rack cannot open (no key, or another rack's key)."""


def seal(request: dict[str, Any], key: str) -> dict[str, Any]:
    """The request with its parameters replaced by `sealed_params` (Fernet, the rack's key)."""
    sealed = {k: v for k, v in request.items() if k != "params"}
    token = Fernet(key.encode()).encrypt(json.dumps(request.get("params", {})).encode())
    return {**sealed, "sealed_params": token.decode()}


def unseal(request: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The request with its parameters in clear again (a request never sealed is returned as is)."""
    if "sealed_params" not in request:
        return request
    if not key:
        raise SealError("this rack has no power key: start it with rackd, which registers "
                        "and keeps one in its credentials")
    try:
        params = json.loads(Fernet(key.encode()).decrypt(request["sealed_params"].encode()))
    except (InvalidToken, ValueError) as exc:
        raise SealError("the power parameters were sealed for another rack key") from exc
    opened = {k: v for k, v in request.items() if k != "sealed_params"}
    return {**opened, "params": params}


def power_key(credentials: str | None = None) -> str | None:
    """The rack's power key from its credentials file ($RACK_CREDENTIALS), read on every call

    so that a key the region rotates (a re-registration) is used without a restart.
    """
    path = credentials or os.environ.get("RACK_CREDENTIALS")
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text()).get("power_key") or None
    except (OSError, ValueError):
        return None
