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


def is_filesystem_broker(url: str) -> bool:
    return url.startswith("filesystem:")


def broker_transport(url: str) -> str | None:
    """Celery's broker_transport: the filesystem one writing 0600 files, else the URL's own."""
    return "rack_worker.fsbroker:Transport" if is_filesystem_broker(url) else None


def broker_transport_options(url: str) -> dict:
    """Redelivery of Redis messages, or the folders of the filesystem transport.

    Messages carry BMC parameters: the folders are 0700 (made so, or tightened when an older
    run left them open, with any file in them made 0600); new files are 0600 (fsbroker).
    """
    if url.startswith(("redis://", "rediss://")):
        return redis_transport_options()
    if not is_filesystem_broker(url):
        return {}
    # CELERY_BROKER_DIR lets processes with a VAR_DIR of their own (lab racks) share the queues.
    folder = Path(os.environ.get("CELERY_BROKER_DIR") or var_dir() / "broker")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    for sub in ("in", "processed", "control"):
        _private_folder(folder / sub)
    return {
        "data_folder_in": str(folder / "in"),
        "data_folder_out": str(folder / "in"),
        "data_folder_processed": str(folder / "processed"),
        "store_processed": False,
        # Exchange tables: without this kombu writes them to ./control wherever it runs.
        "control_folder": str(folder / "control"),
    }


def redis_transport_options() -> dict:
    """When Redis gives a message taken by a worker that died (kill -9) to another worker.

    One setting for region and rack workers alike: every worker on a Redis scans the same
    `unacked` hash and restores any message older than its own timeout, whoever's it is, so a
    shorter timeout in one app would redeliver the other's messages while they still run.
    The timeout must outlast the longest task (a power task: 90 s hard limit) and its longest
    retry wait (region tasks: 10 s); short enough that a lost job comes back within minutes
    rather than Redis's default hour. Workers look for such messages every 10 s (kombu's
    default throttle scans every 10th time only, which is every 100 s).
    """
    return {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
            "unacked_restore_interval": 10, "unacked_restore_throttle": 1}


def _private_folder(path: Path) -> None:
    """Create the folder 0700, or make an existing one and its files private."""
    try:
        path.mkdir(mode=0o700)
        return
    except FileExistsError:
        pass
    path.chmod(0o700)
    for entry in os.scandir(path):
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mode & 0o077:
                os.chmod(entry.path, 0o600)
        except FileNotFoundError:
            pass  # consumed meanwhile
