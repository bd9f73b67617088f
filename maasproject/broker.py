"""Celery broker settings shared by the region and the racks (no Django, no database)."""
import os
from pathlib import Path

from maasproject.env import var_dir

FILESYSTEM = "filesystem://"


def broker_url() -> str:
    """CELERY_BROKER_URL, or kombu's filesystem transport under var/ (the embedded default)."""
    return os.environ.get("CELERY_BROKER_URL") or FILESYSTEM


def broker_transport_options(url: str) -> dict:
    """Folders of the filesystem transport (shared by every process on this machine)."""
    if url != FILESYSTEM:
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
