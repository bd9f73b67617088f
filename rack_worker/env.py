"""Environment of every process, rack or region: the var/ directory, flags and the broker."""
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
# A host, though unused: without one kombu warns "No hostname was supplied" at every start.
FILESYSTEM_BROKER = "filesystem://localhost/"
REDIS_SCHEMES = ("redis://", "rediss://")
SENTINEL_SCHEME = "sentinel://"
# The name Sentinels know the broker's master by (`sentinel monitor <name> ...`): Redis's own
# example name, so a Sentinel set up from its documentation needs no setting.
DEFAULT_SENTINEL_MASTER = "mymaster"


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


def is_sentinel_url(url: str) -> bool:
    """kombu's Sentinel form: `sentinel://h1:26379;sentinel://h2:26379/0`."""
    return url.startswith(SENTINEL_SCHEME)


def is_redis_url(url: str) -> bool:
    """A Redis broker, reached directly or through Sentinels."""
    return url.startswith(REDIS_SCHEMES) or is_sentinel_url(url)


def sentinel_master_name() -> str:
    return os.environ.get("REDIS_SENTINEL_MASTER") or DEFAULT_SENTINEL_MASTER


def sentinel_parts(url: str) -> dict:
    """Sentinel addresses, database and the master's credentials of a `sentinel://` URL.

    As kombu reads it: every `;`-separated part names a Sentinel (default port 26379); the
    first part's path is the database and its user:password authenticate to the master.
    """
    parts = [urlsplit(part) for part in url.split(";") if part.strip()]
    first = parts[0]
    return {"sentinels": [(part.hostname, part.port or 26379) for part in parts],
            "db": int(first.path.strip("/") or 0),
            "username": unquote(first.username) if first.username else None,
            "password": unquote(first.password) if first.password else None}


def broker_transport(url: str) -> str | None:
    """Celery's broker_transport: the filesystem one writing 0600 files, kombu's Sentinel one
    surviving a lost master (rack_worker.sentinel_transport), else the URL's own."""
    if is_filesystem_broker(url):
        return "rack_worker.fsbroker:Transport"
    if is_sentinel_url(url):
        return "rack_worker.sentinel_transport:Transport"
    return None


def broker_transport_options(url: str) -> dict:
    """Redelivery of Redis messages (and the master's name behind Sentinels), or the folders of
    the filesystem transport.

    Messages carry BMC parameters: the folders are 0700 (made so, or tightened when an older
    run left them open, with any file in them made 0600); new files are 0600 (fsbroker).
    """
    if is_sentinel_url(url):
        return {**redis_transport_options(), **sentinel_transport_options()}
    if is_redis_url(url):
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


def sentinel_transport_options() -> dict:
    """The master's name, and timeouts so that a host gone silent (not one refusing) fails over.

    Without them a connection to a master or Sentinel whose host vanished waits for the
    kernel's TCP timeout (minutes) before trying the next. Workers wait 1 s per BRPOP, well
    under the socket timeout.
    """
    return {"master_name": sentinel_master_name(), "socket_connect_timeout": 3,
            "socket_timeout": 10,
            "sentinel_kwargs": {"socket_timeout": 2, "socket_connect_timeout": 2}}


def worker_consumer(url: str) -> str:
    """Celery's worker_consumer: behind Sentinels one that follows a failover within 2 s."""
    if is_sentinel_url(url):
        return "rack_worker.reconnect:FastReconnectConsumer"
    return "celery.worker.consumer:Consumer"


def broker_connection_max_retries(url: str) -> int | None:
    """Behind Sentinels, retry the broker forever: at 2 s a round over three Sentinels, Celery's
    100 retries would stop a worker after a minute of outage; else Celery's 100."""
    return None if is_sentinel_url(url) else 100


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
