"""Region-only environment: secrets generated once into var/ (shared helpers: rack_worker.env)."""
import os
import secrets
import tempfile

from rack_worker.env import var_dir


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
