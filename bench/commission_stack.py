"""The commissioning benchmark's processes: region hosts, HAProxy in front of several, the rack
and the simulated fleet (bench/commission_bench.py).

One region: its main listener on the bench's port and the rack listener on the rack port, as
`make run` starts them. Several (--regions N): each region host runs both listeners, a worker
and a beat on spare ports, and HAProxy (lab/ha/haproxy.cfg) serves the bench's port in front of
the main listeners and the rack port in front of the rack listeners, as in the README's HA
topology; the regions read the PROXY protocol line HAProxy sends.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """`python args...` in its own process group (so its CPU and its stop cover its children)."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_for(check, timeout: float, what: str, procs: list[subprocess.Popen] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: {proc.args} exited with {proc.returncode}")
        time.sleep(0.2)
    raise RuntimeError(f"Timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answers
    except OSError:
        return False



def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rack_ready(credentials: Path, name: str):
    from zones.models import RackController

    if not credentials.exists():
        return None
    return RackController.objects.filter(name=name, status="running").first()


def part(name: str, region: int) -> str:
    """A region part's name in the process table and the report: "gunicorn", "beat 2"..."""
    return name if region == 1 else f"{name} {region}"


def log_name(name: str) -> str:
    """The log file of a part: "rack listener 2" -> rack-listener-2.log."""
    return name.replace(" ", "-") + ".log"


def start_listeners(options, env: dict, var: Path, region: int, ports: tuple[int, int],
                    procs: dict[str, subprocess.Popen]) -> tuple[str, str]:
    """Region host `region`'s main listener and (unless turned off) its rack listener on
    `ports`; their URLs once they answer."""
    proxied = ["--proxy-protocol", "v1"] if options.regions > 1 else []
    main = part("gunicorn", region)
    url = f"http://127.0.0.1:{ports[0]}/"
    # The default control socket (~/.gunicorn/) is one per user: two masters would share it.
    procs[main] = spawn(
        ["-m", "gunicorn", "maasproject.wsgi", "-b", f"127.0.0.1:{ports[0]}",
         "-w", str(options.web_workers), "--backlog", str(options.backlog), "--timeout", "120",
         "--log-level", "warning", "--no-control-socket", *proxied],
        dict(env, REGION_LISTENER="main"), var / log_name(main))
    wait_for(lambda: http_ok(url + "api/v1/"), 60, main, [procs[main]])
    if not options.rack_listener:
        return url, url
    rack = part("rack listener", region)
    procs[rack] = spawn(
        ["-m", "gunicorn", "maasproject.wsgi", "-b", f"127.0.0.1:{ports[1]}",
         "-k", "gthread", "-w", str(options.rack_web_workers), "--threads",
         str(options.rack_web_threads), "--timeout", "120", "--log-level", "warning",
         "--no-control-socket", *proxied],
        # Boot decisions name the metadata URL on the bench's port (HAProxy's with several).
        dict(env, REGION_LISTENER="rack", REGION_PORT=str(options.port)),
        var / log_name(rack))
    rack_url = f"http://127.0.0.1:{ports[1]}/"
    wait_for(lambda: http_ok(rack_url + "api/v1/rack/config/"), 60, rack, [procs[rack]])
    return url, rack_url


def start_region(options, env: dict, var: Path, region: int, ports: tuple[int, int],
                 procs: dict[str, subprocess.Popen]) -> tuple[str, str]:
    """Region host `region`: its listeners, worker and beat (each region runs a beat; the
    cluster scheduler sends each tick once). Its URLs (main, rack)."""
    urls = start_listeners(options, env, var, region, ports, procs)
    worker = part("region worker", region)
    procs[worker] = spawn(
        ["-m", "celery", "-A", "maasproject", "worker", "-Q", "region", "-c",
         str(options.region_concurrency), "-l", "warning", "--without-gossip",
         "--without-mingle", "--hostname", f"bench-region{region}-{os.getpid()}@%h"],
        env, var / log_name(worker))
    if options.beat:
        beat = part("beat", region)
        procs[beat] = spawn(["-m", "celery", "-A", "maasproject", "beat", "-l", "warning",
                             "-s", str(var / f"celerybeat-schedule-{region}")],
                            env, var / log_name(beat))
    return urls


def start_regions(options, env: dict, var: Path, procs: dict) -> tuple[str, str]:
    """Every region host, and HAProxy in front of them when there are several: (main URL, the
    rack's URL)."""
    rack_port = options.rack_port or spare_port()
    if options.regions == 1:
        return start_region(options, env, var, 1, (options.port, rack_port), procs)
    from lab.ha.proxy import HAProxy

    urls = [start_region(options, env, var, n, (spare_port(), spare_port()), procs)
            for n in range(1, options.regions + 1)]
    # Each region is sent as many requests at once as its listener serves; HAProxy queues
    # the rest, so its health checks never wait behind a burst in gunicorn's accept queue.
    fronts = [("haproxy", options.port, [main for main, _ in urls], options.web_workers)]
    if options.rack_listener:
        fronts.append(("haproxy rack", rack_port, [rack for _, rack in urls],
                       options.rack_web_workers * options.rack_web_threads))
    for name, port, backends, maxconn in fronts:
        folder = var / name.replace(" ", "-")
        folder.mkdir()
        proxy = HAProxy(folder, [(f"region{n}", url.removeprefix("http://").rstrip("/"))
                                 for n, url in enumerate(backends, start=1)], port=port,
                        server_maxconn=maxconn)
        procs[name] = proxy.process
        proxy.wait_all_up(60)
    url = f"http://127.0.0.1:{options.port}/"
    return url, (f"http://127.0.0.1:{rack_port}/" if options.rack_listener else url)


def start_stack(options, env: dict, var: Path, bmcs: dict[str, str],
                procs: dict[str, subprocess.Popen]) -> tuple[str, str, Path]:
    """Start the region hosts, the rack and the fleet; return the URLs (main, the rack's)
    and the boot records."""
    from zones.services.rackapi import rack_secret

    # Every simulated machine calls from this host's one address, which no rack leased to it.
    env = dict(env, METADATA_TOKEN_SOURCES="any")
    url, rack_url = start_regions(options, env, var, procs)
    rack_var, power_dir = var / "rack", var / "fake-power"
    # A VAR_DIR of its own (credentials); the region's queues when the broker is the
    # filesystem transport under the region's VAR_DIR (tests without Redis).
    rack_env = dict(env, VAR_DIR=str(rack_var), FAKE_POWER_STATE_DIR=str(power_dir),
                    RACK_SECRET=rack_secret(), CELERY_BROKER_DIR=env.get("CELERY_BROKER_DIR")
                    or str(Path(env["VAR_DIR"]) / "broker"))
    procs["rack"] = spawn(
        ["-m", "rack_worker.rackd", "--region-url", rack_url, "--name", options.rack,
         "--no-with-bootsvc", "--worker-concurrency", str(options.rack_concurrency)],
        rack_env, var / "rack.log")
    credentials = rack_var / "rack" / "credentials.json"
    wait_for(lambda: rack_ready(credentials, options.rack), 60, "the rack to register",
             [procs["rack"]])
    bmcs_file, records = var / "bmcs", var / "boots.jsonl"
    bmcs_file.write_text("".join(f"{fake_id} {mac}\n" for fake_id, mac in bmcs.items()))
    procs["fake runner"] = spawn(
        ["bench/fake_runner.py", "--region", rack_url, "--rack-credentials", str(credentials),
         "--bmcs-file", str(bmcs_file), "--power-dir", str(power_dir), "--records",
         str(records), "--exit-after", str(len(bmcs)), "--timeout", str(options.timeout),
         "--script-seconds", str(options.script_seconds), "--no-self-poweroff"],
        env, var / "fake_runner.log")
    wait_for(lambda: "watching" in (var / "fake_runner.log").read_text(), 30, "the fake runner",
             [procs["fake runner"]])
    time.sleep(2)  # the workers finish connecting to the broker
    return url, rack_url, records

