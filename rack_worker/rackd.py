"""The rack controller daemon: `python -m rack_worker.rackd --region-url URL --secret-file F`.

Registers with the region (or reuses $VAR_DIR/rack/credentials.json), heartbeats its interfaces
and service states in a thread, and supervises its children: the Celery worker of `rack.<name>`
and, when available, the boot services (`python -m bootsvc`) with the image-cache sync
(`python -m rack_worker.imagecache`). It knows every region URL (--region-url takes several,
comma-separated; the region answers the others), saves them with its credentials and fails over
between them. SIGTERM/SIGINT stop everything.
"""
import argparse
import ctypes
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bootsvc.health import read_service_states, services_path
from bootsvc.loaders import read_status_reason, status_path
from bootsvc.region import RegionAuthError, RegionClient, RegionError, region_urls
from rack_worker.env import var_dir
from rack_worker.netinfo import read_interfaces

logger = logging.getLogger("rackd")
VERSION = "0.1.0"
MAX_BACKOFF = 30.0


def credentials_path() -> Path:
    return var_dir() / "rack" / "credentials.json"


def load_credentials(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("token") else None


def save_credentials(path: Path, credentials: dict) -> None:
    """Write the credentials atomically, readable by this user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle)
    os.replace(tmp, path)


def same_regions(saved: dict, configured: list[str]) -> bool:
    """True if saved credentials belong to one of the configured regions.

    Any shared URL is enough: the regions of one deployment share their database, so a region
    added to (or removed from) --region-url must not make the rack register again.
    """
    known = region_urls(saved.get("region_url") or "") + region_urls(saved.get("regions") or [])
    return bool(set(known) & set(configured))


def bootsvc_available() -> bool:
    try:
        return importlib.util.find_spec("bootsvc.__main__") is not None
    except (ImportError, ValueError):
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when rackd dies, even by SIGKILL (Linux prctl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Child:
    """A supervised child process, restarted with exponential backoff when it exits."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        self.name, self.argv, self.env = name, argv, env
        self.process: subprocess.Popen | None = None
        self.failures = 0
        self.restart_at = 0.0

    @property
    def state(self) -> str:
        return "running" if self.process and self.process.poll() is None else "failed"

    def start(self) -> None:
        logger.info("Starting %s: %s", self.name, " ".join(self.argv))
        self.process = subprocess.Popen(self.argv, env=self.env, preexec_fn=_die_with_parent)
        self.started = time.monotonic()

    def supervise(self, now: float) -> None:
        """Restart the child if it exited, after its backoff delay."""
        if self.process is None or self.process.poll() is None:
            return
        if self.restart_at == 0.0:
            if now - self.started > MAX_BACKOFF:
                self.failures = 0
            delay = min(MAX_BACKOFF, 2.0 ** self.failures)
            self.failures += 1
            logger.warning("%s exited with %s; restarting in %.0fs", self.name,
                           self.process.returncode, delay)
            self.restart_at = now + delay
        elif now >= self.restart_at:
            self.restart_at = 0.0
            self.start()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class Rackd:
    """Registration, heartbeats and child supervision of one rack."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.stopping = threading.Event()
        self.credentials_file = credentials_path()
        self.client = RegionClient(args.region_urls, timeout=args.timeout)
        self.children: list[Child] = []

    def connect(self) -> None:
        """Reuse saved credentials (checked by a heartbeat), else register."""
        saved = load_credentials(self.credentials_file)
        if saved and same_regions(saved, self.client.configured) and (
                not self.args.name or saved.get("name") == self.args.name):
            self.client.system_id, self.client.token = saved["system_id"], saved["token"]
            self.client.update_regions(saved.get("regions") or [])
            self.args.name = saved["name"]
            try:
                self.heartbeat()
                logger.info("Using saved credentials of rack %s", self.args.name)
                return
            except RegionAuthError:
                logger.warning("The region refused the saved credentials; registering again")
        self.register()

    def register(self) -> None:
        if not self.args.secret:
            raise SystemExit("No usable credentials and no --secret to register with.")
        name = self.args.name or socket.gethostname()
        answer = self.client.register(self.args.secret, name, VERSION, read_interfaces())
        self.args.name = answer["name"]
        regions = self.client.update_regions(answer.get("regions") or [])
        save_credentials(self.credentials_file, {**answer, "region_url": self.args.region_url,
                                                 "regions": regions})
        logger.info("Registered as rack %s (%s)", answer["name"], answer["system_id"])

    def heartbeat(self) -> None:
        """Report to the region; keep the power key and the region URLs it answers with."""
        services, reasons = self.health()
        answer = self.client.heartbeat(read_interfaces(), services, reasons)
        regions = self.client.update_regions(answer.get("regions") or [])
        saved = load_credentials(self.credentials_file)
        if not saved:
            return
        # The rack worker reads the key from this file for every power request; the regions
        # are there for the next start, when the configured URLs may all be down.
        changed = {"power_key": answer.get("power_key") or saved.get("power_key"),
                   "regions": regions}
        if any(saved.get(field) != value for field, value in changed.items()):
            save_credentials(self.credentials_file, {**saved, **changed})

    def services(self) -> dict[str, str]:
        return {child.name: child.state for child in self.children}

    def health(self) -> tuple[dict[str, str], dict[str, str]]:
        """Service states with why, when not running: a running bootsvc is degraded while
        loaders are missing, and adds the state of each of its services (DHCP, TFTP, HTTP)."""
        services, reasons = self.services(), {}
        if services.get("bootsvc") != "running":
            return services, reasons
        rack_dir = self.credentials_file.parent
        reason = read_status_reason(status_path(rack_dir))
        if reason:
            services["bootsvc"], reasons["bootsvc"] = "degraded", reason
        for name, (state, why) in read_service_states(services_path(rack_dir)).items():
            services[name] = state
            if why:
                reasons[name] = why
        return services, reasons

    def heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.args.heartbeat_interval):
            try:
                self.heartbeat()
            except RegionAuthError:
                logger.warning("The region refused the rack's token; registering again")
                self._try(self.register)
            except RegionError as exc:
                logger.warning("Heartbeat failed: %s", exc)

    def _try(self, action) -> None:
        try:
            action()
        except (RegionError, SystemExit) as exc:
            logger.error("%s failed: %s", action.__name__, exc)

    def make_children(self) -> list[Child]:
        env = {**os.environ, "RACK_NAME": self.args.name,
               "RACK_REGION_URL": self.client.url,
               "RACK_REGION_URLS": ",".join(self.client.urls),
               "RACK_CREDENTIALS": str(self.credentials_file)}
        worker = [sys.executable, "-m", "rack_worker", "--name", self.args.name,
                  "--concurrency", str(self.args.worker_concurrency)]
        children = [Child("worker", worker, env)]
        if self.args.with_bootsvc and bootsvc_available():
            children.append(Child("bootsvc", [sys.executable, "-m", "bootsvc"], env))
            # The image cache fills the dir bootsvc serves: it runs only beside bootsvc.
            children.append(Child("imagecache",
                                  [sys.executable, "-m", "rack_worker.imagecache"], env))
        return children

    def connect_until_stopped(self) -> bool:
        """Connect, retrying while the region is unreachable; False if stopped meanwhile."""
        while not self.stopping.is_set():
            try:
                self.connect()
                return True
            except RegionAuthError:
                raise
            except RegionError as exc:
                logger.warning("Cannot reach the region (%s); retrying in 5s", exc)
                self.stopping.wait(5)
        return False

    def run(self) -> int:
        if not self.connect_until_stopped():
            return 0
        self.children = self.make_children()
        for child in self.children:
            child.start()
        beat = threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        self._try(self.heartbeat)
        while not self.stopping.wait(0.5):
            for child in self.children:
                child.supervise(time.monotonic())
        logger.info("Stopping")
        for child in self.children:
            child.stop()
        return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rackd", description="Run a rack controller.")
    parser.add_argument("--region-url", required=True,
                        help="e.g. http://region:5240/, or several comma-separated "
                             "(http://region1:5240/,http://region2:5240/): failover")
    parser.add_argument("--secret", default="",
                        help="shared secret (manage.py rack_secret); visible in the process "
                             "list: prefer --secret-file")
    parser.add_argument("--secret-file", default="",
                        help="a file holding the shared secret (- reads it from stdin); "
                             "else the RACK_SECRET environment variable")
    parser.add_argument("--name", default="", help="rack name (default: host name)")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="region request timeout")
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--with-bootsvc", action=argparse.BooleanOptionalAction, default=True,
                        help="start `python -m bootsvc` when it exists (default on)")
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    args.region_urls = region_urls(args.region_url)
    if not args.region_urls:
        parser.error("--region-url names no URL")
    args.secret = read_secret(args)
    return args


def read_secret(args: argparse.Namespace) -> str:
    """The shared secret from --secret, else --secret-file, else RACK_SECRET.

    RACK_SECRET leaves the environment here, so that no child (worker, bootsvc, image cache)
    inherits it: after registration only the rack's own token (a 0600 file) is needed.
    """
    from_env = os.environ.pop("RACK_SECRET", "")
    if args.secret:
        return args.secret
    if not args.secret_file:
        return from_env
    try:
        text = sys.stdin.read() if args.secret_file == "-" else Path(args.secret_file).read_text()
    except OSError as exc:
        raise SystemExit(f"Cannot read the rack secret: {exc}") from exc
    return text.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    daemon = Rackd(args)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.stopping.set())
    try:
        return daemon.run()
    except RegionAuthError as exc:
        logger.error("The region refused the registration: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
