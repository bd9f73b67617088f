"""Run the rack's boot services: `python -m bootsvc` (started by rackd, which sets the env)."""
import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import socket
from pathlib import Path

from bootsvc.bootconfig import ALL_INTERFACES
from bootsvc.health import FAILED, OFF, RUNNING, ServiceStates, services_path
from bootsvc.http import STALL_TIMEOUT, BootHttpServer
from bootsvc.loaders import LoaderWatch, status_path
from bootsvc.metrics import RackMetrics
from bootsvc.region import RegionClient, RegionError, env_region_urls
from bootsvc.service import DecisionCache, DhcpManager, EventSink, Options
from bootsvc.tftp import BootTftpServer
from rack_worker.env import var_dir

log = logging.getLogger("bootsvc")


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bootsvc", description=__doc__)
    parser.add_argument("--region-url", default=env_region_urls(),
                        help="the region URL, or several comma-separated (failover)")
    parser.add_argument("--credentials", default=os.environ.get("RACK_CREDENTIALS", ""))
    parser.add_argument("--http-port", type=int,
                        default=int(os.environ.get("BOOTSVC_HTTP_PORT", "5248")))
    parser.add_argument("--tftp-port", type=int,
                        default=int(os.environ.get("BOOTSVC_TFTP_PORT", "69")))
    parser.add_argument("--http-stall-timeout", type=float,
                        default=float(os.environ.get("BOOTSVC_HTTP_STALL_TIMEOUT", STALL_TIMEOUT)),
                        help="seconds without progress before an HTTP transfer is given up")
    parser.add_argument("--bind", default=os.environ.get("BOOTSVC_BIND") or ALL_INTERFACES,
                        help="the IPv4 address (or host name) TFTP and HTTP boot listen on "
                             "(default 0.0.0.0: every interface); DHCP always listens on the "
                             "interfaces it serves")
    parser.add_argument("--no-dhcp", action="store_true", help="serve TFTP and HTTP only")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not args.region_url or not args.credentials:
        parser.error("needs --region-url and --credentials (rackd passes both)")
    try:
        bind = str(ipaddress.IPv4Address(args.bind))
    except ValueError:
        try:
            bind = socket.gethostbyname(args.bind)  # make run passes HOST: "localhost" too
        except OSError:
            parser.error(f"--bind (BOOTSVC_BIND) {args.bind!r} is no IPv4 address or host name")
    credentials = json.loads(Path(args.credentials).read_text())
    rack_dir = var_dir() / "rack"
    return Options(region_url=args.region_url, system_id=credentials["system_id"],
                   token=credentials["token"], cache_dir=rack_dir / "cache",
                   state_dir=rack_dir / "dhcp", http_port=args.http_port,
                   tftp_port=args.tftp_port, bind=bind, dhcp=not args.no_dhcp,
                   poll_interval=args.poll_interval,
                   http_stall_timeout=args.http_stall_timeout)


async def serve(options: Options, stop: asyncio.Event) -> None:
    """Run TFTP and HTTP in threads and DHCP on this loop until `stop` is set."""
    client = RegionClient(options.region_url, options.system_id, options.token, retries=1)
    events, decisions = EventSink(client.post_events), DecisionCache(client)
    metrics = RackMetrics()  # GET /metrics on the HTTP boot port; transfers counted from events
    events_add = metrics.transfers.observing(events.add)
    # The status file goes to the rack dir (the cache's parent), where rackd reads it.
    loaders = LoaderWatch(options.cache_dir, events.add, status_path(options.cache_dir.parent))
    loaders.refresh()
    states = ServiceStates(services_path(options.cache_dir.parent))
    http = started(states, "http", f"TCP {options.bind}:{options.http_port}",
                   lambda: _http(options, decisions, events_add, metrics))
    tftp = started(states, "tftp", f"UDP {options.bind}:{options.tftp_port}",
                   lambda: _tftp(options, decisions, events_add))
    dhcp = DhcpManager(options.state_dir, client.post_leases, events, states)
    if not options.dhcp:
        states.set("dhcp", OFF, "turned off on this rack (--no-dhcp)")
    metrics.collector.dhcp, metrics.collector.tftp = dhcp, tftp
    events.mac_for_ip = dhcp.mac_for_ip
    loaders.watch(http, tftp)
    watcher = asyncio.get_running_loop().create_task(loaders.run())
    flusher = asyncio.get_running_loop().create_task(events.run())
    log.info("boot services up: HTTP %s:%d, TFTP %s:%d", options.bind, options.http_port,
             options.bind, options.tftp_port)
    try:
        await follow_config(client, dhcp if options.dhcp else None, options.poll_interval, stop)
    finally:
        flusher.cancel()
        watcher.cancel()
        await dhcp.stop()
        await events.flush()
        for server in (tftp, http):
            if server is not None:
                server.stop()


def _http(options: Options, decisions, on_event, metrics) -> BootHttpServer:
    server = BootHttpServer(str(options.cache_dir), decisions.decide, on_event,
                            host=options.bind, port=options.http_port,
                            stall_timeout=options.http_stall_timeout, metrics=metrics)
    server.start()
    return server


def _tftp(options: Options, decisions, on_event) -> BootTftpServer:
    server = BootTftpServer(str(options.cache_dir), decisions.decide, on_event,
                            http_port=options.http_port)
    server.start(options.bind, options.tftp_port)
    return server


def started(states: ServiceStates, name: str, address: str, start):
    """Start one service; a port it cannot bind (not root, in use) leaves the others up and
    is reported failed, with why, to rackd."""
    try:
        server = start()
    except OSError as exc:
        log.error("%s not started on %s: %s", name, address, exc)
        states.set(name, FAILED, f"cannot listen on {address}: {exc.strerror or exc}")
        return None
    states.set(name, RUNNING)
    return server


async def follow_config(client, dhcp, interval: float, stop: asyncio.Event) -> None:
    """Poll the region's config (ETag) and apply every change to DHCP at once."""
    etag = None
    while not stop.is_set():
        try:
            answer = await asyncio.to_thread(client.get_config, etag)
            if answer is not None:
                config, etag = answer
                if dhcp is not None:
                    await dhcp.apply(config)
            elif dhcp is not None:
                await dhcp.retry_failed()
        except RegionError as exc:
            log.warning("config not fetched: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = parse_args(argv)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(options, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
