"""The rack's boot services as one process: DHCP, TFTP and HTTP boot, configured live by the region.

The region is the only source of truth: the DHCP configuration is polled (ETag) every second,
boot decisions are asked per MAC (cached briefly), and leases and boot-timeline events go back
in batches. Nothing here touches a database.
"""
import asyncio
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bootsvc.bootconfig import ALL_INTERFACES
from bootsvc.dhcp.config import from_json
from bootsvc.dhcp.packet import format_mac
from bootsvc.dhcp.server import DhcpServer
from bootsvc.health import FAILED, OFF, RUNNING, ServiceStates
from bootsvc.http import STALL_TIMEOUT
from bootsvc.ra import SolicitationAnswerer
from bootsvc.region import RegionClient, RegionError
from rack_worker.env import env_bool
from rack_worker.netinfo import read_interfaces

log = logging.getLogger("bootsvc")
ENLIST_PATHS = {"kernel": "images/ephemeral/amd64/linux",
                "initrd": "images/ephemeral/amd64/initrd.gz"}


@dataclass
class Options:
    """Where the services listen and keep their caches."""

    region_url: str
    system_id: str
    token: str
    cache_dir: Path
    state_dir: Path
    http_port: int = 5248
    tftp_port: int = 69
    bind: str = ALL_INTERFACES  # TFTP and HTTP boot; DHCP binds per interface it serves
    dhcp: bool = True
    poll_interval: float = 1.0
    http_stall_timeout: float = STALL_TIMEOUT


class DecisionCache:
    """Boot decisions from the region, kept for a few seconds (a boot asks several times)."""

    def __init__(self, client: RegionClient, ttl: float = 3.0):
        self.client, self.ttl = client, ttl
        self._cache: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def decide(self, mac: str | None) -> dict:
        if mac is None:  # pxelinux.cfg/default: a machine we cannot name yet enlists
            return {"mac": None, "action": "enlist", **ENLIST_PATHS,
                    "kernel_params": f"console=ttyS0 metal.region={self.client.url}"}
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(mac)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        decision = self.client.get_boot(mac)
        with self._lock:
            self._cache[mac] = (now, decision)
        return decision


class EventSink:
    """Collects boot events from every service and posts them to the region in batches."""

    def __init__(self, post, interval: float = 0.5, limit: int = 5000, mac_for_ip=None):
        self.post, self.interval, self.limit = post, interval, limit
        self.mac_for_ip = mac_for_ip  # files fetched by address (kernels, loaders) -> the MAC
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, event: dict) -> None:
        if not event.get("mac") and event.get("client") and self.mac_for_ip is not None:
            event = {**event, "mac": self.mac_for_ip(event["client"])}
        if not event.get("mac"):
            return  # the region files events by MAC: a client we gave no lease stays unnamed
        with self._lock:
            if len(self._events) >= self.limit:
                self.dropped += 1
                return
            self._events.append(event)

    def extend(self, events: list[dict]) -> None:
        for event in events:
            self.add(event)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        with self._lock:
            batch, self._events = self._events, []
        if batch:
            try:
                await asyncio.to_thread(self.post, batch)
            except RegionError as exc:
                log.warning("%d boot events not reported: %s", len(batch), exc)


DHCP_RETRY_INTERVAL = 30.0


class DhcpManager:
    """One DHCP server per local interface on a subnet this rack serves; follows the config."""

    def __init__(self, state_dir: Path, report, events: EventSink,
                 states: ServiceStates | None = None):
        self.state_dir, self.report, self.events = state_dir, report, events
        self.states = states
        self.servers: dict[str, DhcpServer] = {}
        self.answerers: dict[str, SolicitationAnswerer] = {}
        self.failed: dict[str, str] = {}  # interface -> why its server did not start
        self.config: dict | None = None
        self.retry_at = 0.0

    async def retry_failed(self) -> None:
        """Apply the last config again if it was not all served (a port since freed, an
        address since added), at most every DHCP_RETRY_INTERVAL seconds."""
        if self.config is not None and self.incomplete and time.monotonic() >= self.retry_at:
            await self.apply(self.config)

    @property
    def incomplete(self) -> bool:
        return bool(self.failed) or bool(self.config["dhcp"].get("subnets") and not self.servers)

    async def apply(self, config: dict) -> None:
        """Serve the config's subnets; what cannot start is retried by retry_failed()."""
        self.config, self.retry_at = config, time.monotonic() + DHCP_RETRY_INTERVAL
        subnets = config["dhcp"].get("subnets") or []
        wanted, self.failed = local_addresses_on(subnets), {}
        for name, address in wanted.items():
            dhcp_config = from_json(config, [address])
            if name in self.servers:
                self.servers[name].update_config(dhcp_config)
                continue
            server = DhcpServer(dhcp_config, name, address, state_dir=str(self.state_dir / name),
                                report=self.report, events=self.events.extend)
            try:
                await server.start()
            except OSError as exc:
                log.error("DHCP on %s (%s) not started: %s", name, address, exc)
                self.failed[name] = f"{name} ({address}): {exc.strerror or exc}"
                continue
            self.servers[name] = server
            await self._answer_solicitations(name)
        for name in set(self.servers) - set(wanted):
            log.info("DHCP on %s stopped: no longer this rack's to serve", name)
            await self.servers.pop(name).stop()
            self._stop_answering(name)
        self._report_state(subnets)

    def _report_state(self, subnets: list[dict]) -> None:
        if self.states is None:
            return
        if self.failed:
            reason = "not serving " + "; ".join(self.failed[name] for name in sorted(self.failed))
            self.states.set("dhcp", FAILED, reason)
        elif self.servers:
            self.states.set("dhcp", RUNNING)
        elif subnets:
            cidrs = ", ".join(str(subnet["cidr"]) for subnet in subnets)
            self.states.set("dhcp", FAILED, f"no local interface on the subnets to serve: {cidrs}")
        else:
            self.states.set("dhcp", OFF, "no VLAN with DHCP on has this rack as its active rack")

    async def _answer_solicitations(self, name: str) -> None:
        """IPv6 "no router here" answers beside DHCP (bootsvc.ra); optional, never fatal."""
        if not env_bool("BOOTSVC_ANSWER_ROUTER_SOLICITATIONS", True):
            return
        answerer = SolicitationAnswerer(name)
        try:
            await answerer.start()
        except OSError as exc:
            log.warning("not answering IPv6 router solicitations on %s: %s", name, exc)
            return
        self.answerers[name] = answerer

    def _stop_answering(self, name: str) -> None:
        answerer = self.answerers.pop(name, None)
        if answerer is not None:
            answerer.stop()

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()
        for name in list(self.answerers):
            self._stop_answering(name)
        self.servers.clear()

    def mac_for_ip(self, address: str) -> str | None:
        """The MAC holding a lease on `address` from one of our DHCP servers, if any."""
        try:
            ip = int(ipaddress.IPv4Address(address))
        except ValueError:
            return None
        for server in list(self.servers.values()):
            lease = server.leases.by_ip.get(ip)
            if lease is not None:
                return format_mac(lease.mac)
        return None


def local_addresses_on(subnets: list[dict]) -> dict[str, str]:
    """{interface: its address} for each local interface inside one of the subnets."""
    networks = [ipaddress.ip_network(s["cidr"], strict=False) for s in subnets]
    found = {}
    for interface in read_interfaces():
        for address in interface["addresses"]:
            ip = ipaddress.ip_interface(address).ip
            if any(ip in network for network in networks):
                found[interface["name"]] = str(ip)
    return found
