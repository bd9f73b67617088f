"""Encryption at rest for secret power parameters (Fernet; key from settings or var/)."""
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "fernet:"


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    """POWER_SECRETS_KEY if set, else a key generated once into var/power_secrets.key."""
    key = settings.POWER_SECRETS_KEY
    if not key:
        path = Path(settings.VAR_DIR) / "power_secrets.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        key = path.read_text().strip()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt_value(value: Any) -> str:
    return PREFIX + _fernet().encrypt(str(value).encode()).decode()


def decrypt_value(token: str) -> str:
    try:
        return _fernet().decrypt(token[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("A power secret cannot be decrypted with this region's key.") from exc


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt_secrets(params: dict[str, Any], secret_names: frozenset[str]) -> dict[str, Any]:
    """Return params with every secret value encrypted (already encrypted ones kept)."""
    return {
        name: encrypt_value(value)
        if name in secret_names and value not in (None, "") and not is_encrypted(value)
        else value
        for name, value in params.items()
    }


def decrypt_secrets(params: dict[str, Any]) -> dict[str, Any]:
    """Return params with every encrypted value in clear (for the rack task message only)."""
    return {k: decrypt_value(v) if is_encrypted(v) else v for k, v in params.items()}


def redact(params: dict[str, Any], secret_names: frozenset[str]) -> dict[str, Any]:
    """Return params without their secret values (for the API, admin and logs)."""
    return {k: v for k, v in params.items() if k not in secret_names and not is_encrypted(v)}
