"""Environment helpers: the var/ directory and values generated once into it."""
import os
import secrets
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Return the state directory (VAR_DIR, default ./var), creating it if needed."""
    path = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def generated_secret(filename: str, nbytes: int = 48) -> str:
    """Read a secret from var/<filename>, generating it on first use (mode 0600)."""
    path = var_dir() / filename
    if not path.exists():
        # Written to a private temp file and linked into place: of several processes starting
        # at once (gunicorn workers) exactly one creates it, and none reads it half-written.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{filename}.")
        with os.fdopen(fd, "w") as handle:
            # Hex, not URL-safe base64: a secret starting with "-" would read as an option
            # when passed on a command line (rackd --secret).
            handle.write(secrets.token_hex(nbytes))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return path.read_text().strip()
