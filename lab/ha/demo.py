"""`make ha-demo`: the README's HA layout on this machine, every part a local process.

Two region hosts (web, worker, beat each, a var/ of its own), PostgreSQL primary and synchronous
standby under Patroni (one etcd member), a Redis master, its replica and three Sentinels, HAProxy
in front of the regions, and one rack (rackd without boot services) registered through HAProxy.
Spare ports on 127.0.0.1, data and logs in a temporary folder; never the machine's shared
PostgreSQL or Redis. Ctrl-C stops everything.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from lab import region
from lab.api import Api
from lab.ha.cluster import Cluster
from lab.ha.procs import free_tcp_port
from lab.ha.proxy import HAProxy
from lab.ha.sentinel import MASTER_NAME, SentinelGroup
from lab.simdemo import Stack

PROJECT_DIR = Path(__file__).resolve().parents[2]
RACK = "ha-demo-rack"
REGIONS = ("a", "b")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.ha.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=5250, help="HAProxy on 127.0.0.1:PORT")
    parser.add_argument("--web-workers", type=int, default=1)
    return parser.parse_args(argv)


def port_unusable(port: int, why: str) -> str:
    """The one line the demo ends with when HAProxy cannot listen on `port`."""
    other = port + 1 if 0 < port < 65535 else 5250
    return (f"HA demo: HAProxy cannot listen on 127.0.0.1:{port} ({why}); choose another port: "
            f"make ha-demo HA_DEMO_PORT={other} (or python -m lab.ha.demo --port {other})")


def check_port(port: int) -> None:
    """SystemExit with one line unless 127.0.0.1:port is free, before anything starts (HAProxy,
    started last, would only fail minutes later). 0: HAProxy takes a spare port."""
    if port == 0:
        return
    with socket.socket() as sock:
        # As HAProxy binds: a previous run's connections in TIME_WAIT do not make it taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OverflowError:
            raise SystemExit(port_unusable(port, "not a TCP port number")) from None
        except OSError as error:
            raise SystemExit(port_unusable(port, error.strerror or str(error))) from None


def shared_env(cluster: Cluster, group: SentinelGroup, folder: Path) -> dict[str, str]:
    """What every region host and the rack are given: the same backends and keys."""
    hosts = cluster.url_hosts
    return {"DATABASE_URL": f"postgres://postgres@{hosts}/maas?target_session_attrs=read-write",
            "CELERY_BROKER_URL": group.url, "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "SECRET_KEY": "ha-demo-" + Fernet.generate_key().decode(),
            "POWER_SECRETS_KEY": Fernet.generate_key().decode(),
            "DJANGO_SETTINGS_MODULE": "maasproject.settings",
            "FAKE_POWER_STATE_DIR": str(folder / "fake-power")}


def manage(env: dict, *args: str) -> str:
    """manage.py's output; its error ends the demo."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR,
                          env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare(env: dict, folder: Path) -> tuple[str, str]:
    """Migrate; admin `admin`; the rack secret in every var/; (API key, password)."""
    # Each region host reads the rack secret from its own var/: all must hold the same.
    first = {**env, "VAR_DIR": str(folder / "a" / "var")}
    manage(first, "migrate", "-v", "0")
    password = Fernet.generate_key().decode()[:16]
    manage(first, "createadmin", "--username", "admin", "--password", password)
    key = manage(first, "apikey", "--username", "admin").strip().splitlines()[-1]
    manage(first, "rack_secret")
    for name in REGIONS[1:]:
        (folder / name / "var").mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / "a" / "var" / "rack_secret", folder / name / "var" / "rack_secret")
    return key, password


def start_regions(stack: Stack, env: dict, folder: Path, workers: int) -> dict[str, int]:
    """Web (PROXY protocol, as behind HAProxy), worker and beat per region; name -> web port."""
    ports = {}
    for name in REGIONS:
        extra = {**env, "VAR_DIR": str(folder / name / "var")}
        ports[name] = free_tcp_port()
        stack.start(f"{name}-web", region.web_argv(ports[name], "-", workers), **extra)
        stack.start(f"{name}-worker", region.worker_argv(f"ha-demo-{name}"), **extra)
        stack.start(f"{name}-beat", region.beat_argv(), **extra)
    return ports


def wait_regions(stack: Stack, proxy: HAProxy) -> None:
    """Until HAProxy sees both regions' /healthz answer 200."""
    deadline = time.monotonic() + 120
    while set(proxy_states(proxy).values()) != {"UP"}:
        if stack.exited() or time.monotonic() > deadline:
            raise SystemExit(f"a region did not come up ({stack.exited() or 'timeout'}): "
                             f"see {stack.logs}")
        time.sleep(0.5)


def proxy_states(proxy: HAProxy) -> dict[str, str]:
    """proxy.states(), or the one-line SystemExit when HAProxy exited as its port was taken
    (after check_port, by something quicker)."""
    if proxy.process.poll() is not None and "Address already in use" in proxy.log.read_text(
            errors="replace"):
        raise SystemExit(port_unusable(proxy.port, "Address already in use"))
    return proxy.states()


def start_rack(stack: Stack, env: dict, folder: Path, api: Api, base: str) -> None:
    """rackd without boot services, registered through HAProxy with the shared secret."""
    var = folder / "rack"
    stack.start("rack", [sys.executable, "-m", "rack_worker.rackd", "--secret-file",
                         str(folder / "a" / "var" / "rack_secret"), "--region-url", f"{base}/",
                         "--name", RACK, "--no-with-bootsvc"], **{**env, "VAR_DIR": str(var)})
    api.wait_for(f"racks/?name={RACK}", lambda racks: racks and racks[0]["status"] == "running",
                 120, lambda: f"(rack log: {stack.logs / 'rack.log'})")


def summary(stack: Stack, proxy: HAProxy, cluster: Cluster, group: SentinelGroup, env: dict,
            ports: dict[str, int], key: str, password: str) -> str:
    """What to open, what the regions were given, and how to kill each part."""
    groups = {name: proc.pid for name, proc in stack.procs.items()}
    primary = cluster.primary()
    lines = [f"HA demo up (logs in {stack.logs}, {proxy.log.parent}, {cluster.folder}):",
             f"  API through HAProxy: {proxy.base}/api/v1/  (UI {proxy.base}/, user admin, "
             f"password {password})",
             f"  API key: {key}",
             *(f"  region {name} direct: http://127.0.0.1:{port}/" for name, port in
               ports.items()),
             f"  DATABASE_URL={env['DATABASE_URL']}",
             f"  CELERY_BROKER_URL={env['CELERY_BROKER_URL']}  "
             f"REDIS_SENTINEL_MASTER={MASTER_NAME}",
             "How to kill each part (watch HAProxy, Patroni and Sentinel take over):",
             *(f"  region {name}: kill -9 -- -{groups[f'{name}-web']} -{groups[f'{name}-worker']}"
               f" -{groups[f'{name}-beat']}" for name in ports),
             f"  PostgreSQL primary ({primary.name}, port {primary.pg_port}): kill -9 -- "
             f"-{primary.process.pid} -{os.getpgid(primary.postmaster_pid())}  "
             f"(Patroni, then PostgreSQL)",
             f"  Redis master (port {group.master_port()}): kill -9 {group.processes['a'].pid}",
             f"  HAProxy: kill {proxy.process.pid}   rack {RACK}: kill -- -{groups['rack']}",
             "Ctrl-C stops everything."]
    return "\n".join(lines)


def run(args: argparse.Namespace, folder: Path, parts: list) -> None:
    """Bring every part up (each added to `parts` to be stopped), print, wait for Ctrl-C."""
    print("starting etcd and two Patroni nodes...", flush=True)
    cluster = Cluster(2, scope="maas-ha-demo")
    parts.append(cluster)
    cluster.wait_synchronous()
    cluster.create_database("maas")
    print("starting Redis, its replica and three Sentinels...", flush=True)
    (folder / "redis").mkdir()
    group = SentinelGroup(folder / "redis")
    parts.append(group)
    group.start()
    env = shared_env(cluster, group, folder)
    print("migrating, creating the admin...", flush=True)
    key, password = prepare(env, folder)
    stack = Stack(folder)
    parts.append(stack)
    ports = start_regions(stack, env, folder, args.web_workers)
    proxy = HAProxy(folder, [(name, f"127.0.0.1:{port}") for name, port in ports.items()],
                    port=args.port, server_maxconn=args.web_workers)
    parts.append(proxy)
    print("starting two regions behind HAProxy...", flush=True)
    wait_regions(stack, proxy)
    start_rack(stack, env, folder, Api(proxy.base, key), proxy.base)
    print(summary(stack, proxy, cluster, group, env, ports, key, password), flush=True)
    reported: set[str] = set()
    while True:
        time.sleep(2)
        for name in sorted(n for n, p in stack.procs.items() if p.poll() is not None):
            if name not in reported:  # a part killed on purpose: the others go on
                print(f"{name} exited (killed?); the others go on.", flush=True)
                reported.add(name)


def interrupt(signum, frame) -> None:
    """SIGTERM as Ctrl-C: main's finally stops every part."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_port(args.port)
    # Ctrl-C even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    folder = Path(tempfile.mkdtemp(prefix="ha-demo-"))
    parts: list = []
    try:
        run(args, folder, parts)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        for part in reversed(parts):
            part.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
