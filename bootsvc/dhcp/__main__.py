"""Run the DHCP server standalone from a config JSON file (tests, benchmarks)."""
import argparse
import asyncio
import json
import logging
import os
import signal

from bootsvc.dhcp import config as dhcp_config
from bootsvc.dhcp.server import DhcpServer

log = logging.getLogger("bootsvc.dhcp")
WATCH_INTERVAL = 0.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bootsvc.dhcp", description=__doc__)
    parser.add_argument("--config", required=True, help="rack config JSON")
    parser.add_argument("--interface", required=True)
    parser.add_argument("--server-ip", required=True, help="this rack's address on the interface")
    parser.add_argument("--state-dir", help="directory of the lease journal (none: in memory)")
    parser.add_argument("--port", type=int, default=67)
    parser.add_argument("--report-file", help="append reported batches (JSON lines)")
    parser.add_argument("--counters-file", help="write the counters (JSON) every second")
    parser.add_argument("--fsync", choices=("before-reply", "interval"), default="before-reply",
                        help="before-reply (default): leases on disk before the ACK leaves; "
                             "interval: every 0.1 s (benchmark comparison only)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def load(path: str, server_ip: str):
    with open(path) as f:
        return dhcp_config.from_json(json.load(f), [server_ip])


def file_writer(path: str | None, kind: str):
    if not path:
        return None

    def write(batch: list) -> None:
        with open(path, "a") as f:
            f.write(json.dumps({kind: batch}) + "\n")
    return write


async def watch(server: DhcpServer, args: argparse.Namespace) -> None:
    """Reload the config file when its mtime changes; write counters."""
    mtime = os.stat(args.config).st_mtime_ns
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        try:
            current = os.stat(args.config).st_mtime_ns
            if current != mtime:
                mtime = current
                server.update_config(load(args.config, args.server_ip))
                log.info("configuration reloaded")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("configuration not reloaded: %s", exc)
        if args.counters_file:
            tmp = args.counters_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(dict(server.counters), f)
            os.replace(tmp, args.counters_file)


async def main(args: argparse.Namespace) -> None:
    server = DhcpServer(
        load(args.config, args.server_ip), args.interface, args.server_ip,
        state_dir=args.state_dir, port=args.port, sync_before_reply=args.fsync == "before-reply",
        report=file_writer(args.report_file, "leases"),
        events=file_writer(args.report_file, "events"),
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = loop.create_task(watch(server, args))
    print("ready", flush=True)
    await stop.wait()
    watcher.cancel()
    await server.stop()


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(arguments))
