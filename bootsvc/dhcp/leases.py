"""Lease table: O(1) allocation from dynamic ranges, reservations, quarantine, durable journal."""
import heapq
import time
from collections import deque

from bootsvc.dhcp import journal as jr
from bootsvc.dhcp.config import DhcpConfig, Subnet

OFFERED, ACTIVE = "offered", "active"


class Lease:
    """One address bound (or offered) to one MAC."""

    __slots__ = ("mac", "ip", "expires", "state", "hostname")

    def __init__(self, mac: bytes, ip: int, expires: float, state: str, hostname: str = ""):
        self.mac, self.ip, self.expires, self.state, self.hostname = (
            mac, ip, expires, state, hostname)


class LeaseStore:
    """Leases by MAC and by address; free addresses in a deque validated when popped."""

    def __init__(self, state_dir: str | None = None, clock=time.time):
        self.clock = clock
        self.by_mac: dict[bytes, Lease] = {}
        self.by_ip: dict[int, Lease] = {}
        self.quarantine: dict[int, float] = {}
        self.hint: dict[bytes, int] = {}  # last address of a MAC whose lease ended
        self.config = DhcpConfig()
        self._host_ip: dict[int, bytes] = {}
        self._region_ip: dict[int, tuple[bytes, float]] = {}
        self._region_mac: dict[bytes, int] = {}
        self._free: dict[str, deque] = {}
        self._heap: list[tuple[float, int]] = []
        self.journal = jr.Journal(state_dir) if state_dir else None
        if self.journal:
            self._replay()

    # -- configuration ---------------------------------------------------------------------
    def set_config(self, config: DhcpConfig) -> None:
        """Swap the configuration; leases are kept, free pools are rebuilt."""
        self.config = config
        self._host_ip = {h.ip: h.mac for h in config.hosts.values()}
        self._region_ip = {r.ip: (r.mac, r.expires) for r in config.region_leases}
        self._region_mac = {r.mac: r.ip for r in config.region_leases}
        free = {}
        for subnet in config.subnets:
            pool = deque()
            for start, end in subnet.dynamic_ranges:
                for ip in range(start, end + 1):
                    if ip not in self.by_ip and not self._blocked(subnet, ip):
                        pool.append(ip)
            free[subnet.key] = pool
        self._free = free

    def _blocked(self, subnet: Subnet, ip: int) -> bool:
        return subnet.excluded(ip) or ip in self._host_ip or ip in self.quarantine or (
            ip in self._region_ip and self._region_ip[ip][1] > self.clock())

    # -- queries ---------------------------------------------------------------------------
    def available(self, subnet: Subnet, mac: bytes, ip: int) -> bool:
        """May mac hold ip on subnet now?"""
        if not subnet.contains(ip):
            return False
        owner = self._host_ip.get(ip)
        if owner is not None:
            # The region's reservation outranks another MAC's lease: it gave the address to this
            # machine (an AUTO address released with its old machine goes to the next deploy).
            return owner == mac
        now = self.clock()
        lease = self.by_ip.get(ip)
        if lease is not None and lease.mac != mac and lease.expires > now:
            return False
        host = self.config.hosts.get(mac)
        if host is not None and subnet.contains(host.ip):
            return False  # a known machine gets its reserved address only
        if subnet.excluded(ip) or not subnet.in_dynamic(ip):
            return False
        if self.quarantine.get(ip, 0) > now:
            return False
        region = self._region_ip.get(ip)
        return region is None or region[0] == mac or region[1] <= now

    def choose(self, subnet: Subnet, mac: bytes, requested: int | None) -> int | None:
        """The address to offer mac: reservation, its lease, requested, last, region's, new."""
        host = self.config.hosts.get(mac)
        if host is not None and subnet.contains(host.ip):
            return host.ip if self.available(subnet, mac, host.ip) else None
        lease = self.by_mac.get(mac)
        for ip in (lease.ip if lease else None, requested, self.hint.get(mac),
                   self._region_mac.get(mac)):
            if ip is not None and self.available(subnet, mac, ip):
                return ip
        return self._pop_free(subnet, mac)

    def _pop_free(self, subnet: Subnet, mac: bytes) -> int | None:
        pool = self._free.get(subnet.key)
        if pool is None:
            return None
        for attempt in range(2):
            while pool:
                ip = pool.popleft()
                if ip not in self.by_ip and self.available(subnet, mac, ip):
                    return ip
            if attempt == 0:
                self.expire()  # reclaim expired leases, then try once more
        return None

    def _push_free(self, ip: int) -> None:
        subnet = self.config.subnet_for(ip)
        if subnet is not None and subnet.in_dynamic(ip):
            self._free[subnet.key].append(ip)

    # -- changes ---------------------------------------------------------------------------
    def _bind(self, mac: bytes, ip: int, expires: float, state: str, hostname: str) -> Lease:
        old = self.by_mac.get(mac)
        if old is not None and old.ip != ip:
            self._unbind(old)
        holder = self.by_ip.get(ip)
        if holder is not None and holder.mac != mac:
            self._unbind(holder)
        lease = self.by_mac.get(mac)
        if lease is None:
            lease = Lease(mac, ip, expires, state, hostname)
            self.by_mac[mac] = self.by_ip[ip] = lease
        else:
            lease.expires, lease.state, lease.hostname = expires, state, hostname
        heapq.heappush(self._heap, (expires, ip))
        return lease

    def _unbind(self, lease: Lease, free: bool = True) -> None:
        if self.by_mac.get(lease.mac) is lease:
            del self.by_mac[lease.mac]
        if self.by_ip.get(lease.ip) is lease:
            del self.by_ip[lease.ip]
        self.hint[lease.mac] = lease.ip
        if free:
            self._push_free(lease.ip)

    def offer(self, mac: bytes, ip: int, hold: float = 30.0) -> Lease:
        """Hold ip for mac while the client decides (not journaled)."""
        lease = self.by_mac.get(mac)
        if lease is not None and lease.ip == ip and lease.state == ACTIVE:
            return lease
        return self._bind(mac, ip, self.clock() + hold, OFFERED, "")

    def commit(self, mac: bytes, ip: int, lease_time: int, hostname: str = "") -> Lease:
        """Bind ip to mac (ACK): journaled before the ACK is sent."""
        now = self.clock()
        lease = self._bind(mac, ip, now + lease_time, ACTIVE, hostname)
        if self.journal:
            self.journal.append(jr.active_record(mac, ip, lease.expires, hostname, now))
        return lease

    def release(self, mac: bytes, ip: int) -> Lease | None:
        """The client gives the address back (RELEASE), or its offer went elsewhere."""
        lease = self.by_mac.get(mac)
        if lease is None or lease.ip != ip:
            return None
        self._unbind(lease)
        if self.journal and lease.state == ACTIVE:
            self.journal.append(jr.release_record(mac, ip, self.clock()))
        return lease

    def decline(self, mac: bytes, ip: int, quarantine_time: float) -> None:
        """The client found ip in use (DECLINE): quarantine it."""
        lease = self.by_mac.get(mac)
        if lease is not None and lease.ip == ip:
            self._unbind(lease, free=False)
        now = self.clock()
        until = now + quarantine_time
        self.quarantine[ip] = until
        heapq.heappush(self._heap, (until, ip))
        if self.journal:
            self.journal.append(jr.decline_record(ip, until, now))
        self.hint.pop(mac, None)

    def expire(self) -> list[Lease]:
        """Drop leases and quarantines whose time passed; return expired active leases."""
        now = self.clock()
        expired = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, ip = heapq.heappop(heap)
            until = self.quarantine.get(ip)
            if until is not None and until <= now:
                del self.quarantine[ip]
                if ip not in self.by_ip:
                    self._push_free(ip)
            lease = self.by_ip.get(ip)
            if lease is not None and lease.expires <= now:
                self._unbind(lease)
                if lease.state == ACTIVE:
                    expired.append(lease)
        return expired

    # -- durability ------------------------------------------------------------------------
    def _replay(self) -> None:
        now = self.clock()
        for record in jr.read_records(self.journal.path):
            if record[0] == "A":
                _, _, mac, ip, expires, hostname = record
                self._bind(mac, ip, expires, ACTIVE, hostname)
            elif record[0] == "R":
                lease = self.by_mac.get(record[2])
                if lease is not None and lease.ip == record[3]:
                    self._unbind(lease, free=False)
            elif record[0] == "D" and record[3] > now:
                self.quarantine[record[2]] = record[3]
                heapq.heappush(self._heap, (record[3], record[2]))
        self.expire()
        self.compact()

    def snapshot(self) -> tuple:
        """The state the journal must keep, copied (cheap, in the loop); snapshot_records()
        formats it (anywhere)."""
        now = self.clock()
        leases = [(lease.mac, lease.ip, lease.expires, lease.hostname)
                  for lease in self.by_mac.values()
                  if lease.state == ACTIVE and lease.expires > now]
        return now, leases, list(self.quarantine.items())

    def compact(self) -> None:
        if self.journal:
            self.journal.compact(snapshot_records(self.snapshot()))

    def needs_compaction(self) -> bool:
        return bool(self.journal) and self.journal.records > 2 * len(self.by_mac) + 10000

    def active(self) -> list[Lease]:
        now = self.clock()
        return [x for x in self.by_mac.values() if x.state == ACTIVE and x.expires > now]


def snapshot_records(snapshot: tuple):
    """The journal records of a LeaseStore.snapshot()."""
    now, leases, quarantine = snapshot
    for mac, ip, expires, hostname in leases:
        yield jr.active_record(mac, ip, expires, hostname, now)
    for ip, until in quarantine:
        yield jr.decline_record(ip, until, now)
