"""A rack's DHCP (bootsvc.service.DhcpManager) and HTTP boot server with /metrics in one process,
wired as bootsvc.__main__ wires them, with no region: for tests/bootsvc/test_metrics.py."""
import argparse
import asyncio
import json
import signal
from pathlib import Path

from bootsvc.http import BootHttpServer
from bootsvc.metrics import RackMetrics
from bootsvc.service import DhcpManager, EventSink


async def main(args: argparse.Namespace) -> None:
    metrics = RackMetrics(directory=Path(args.metrics_dir))
    events = EventSink(post=lambda batch: None)
    http = BootHttpServer(args.cache_dir, lambda mac: {"action": "local"},
                          metrics.transfers.observing(events.add), host="0.0.0.0",
                          port=args.http_port, metrics=metrics)
    http.start()
    dhcp = DhcpManager(Path(args.state_dir), lambda batch: None, events)
    metrics.collector.dhcp = dhcp
    await dhcp.apply(json.loads(Path(args.config).read_text()))
    assert dhcp.servers, "no DHCP server started: no local address in the config's subnets"
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await dhcp.stop()
    http.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--config", "--cache-dir", "--state-dir", "--metrics-dir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    asyncio.run(main(parser.parse_args()))
