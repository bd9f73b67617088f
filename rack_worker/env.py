"""Environment of every process, rack or region: the var/ directory, flags and the broker."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# A host, though unused: without one kombu warns "No hostname was supplied" at every start.
FILESYSTEM_BROKER = "filesystem://localhost/"


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


def broker_url() -> str:
    """CELERY_BROKER_URL, or kombu's filesystem transport under var/ (the embedded default)."""
    return os.environ.get("CELERY_BROKER_URL") or FILESYSTEM_BROKER


def broker_transport_options(url: str) -> dict:
    """Folders of the filesystem transport (shared by every process on this machine)."""
    if not url.startswith("filesystem:"):
        return {}
    # CELERY_BROKER_DIR lets processes with a VAR_DIR of their own (lab racks) share the queues.
    folder = Path(os.environ.get("CELERY_BROKER_DIR") or var_dir() / "broker")
    for sub in ("in", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "in"),
        "data_folder_out": str(folder / "in"),
        "data_folder_processed": str(folder / "processed"),
        "store_processed": False,
        # Exchange tables: without this kombu writes them to ./control wherever it runs.
        "control_folder": str(folder / "control"),
    }
