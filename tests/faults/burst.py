"""A burst of machine writes from several client threads, and what each request was answered.

Each thread creates machines (two MACs, IPMI parameters), PATCHes some of them (description and
power address and password together) and adds an interface to others; it writes down what it
asked and the answer: an HTTP status, or "error" when the connection broke (a worker killed).
"""
import http.client
import json
import threading
from dataclasses import dataclass, field

from tests.faults.region import call

ERROR = "error"  # the connection broke before an answer


@dataclass
class Write:
    """One machine's writes: the create, the optional PATCH and interface, and their answers."""

    hostname: str
    macs: list[str]
    address: str
    password: str
    created: int | str | None = None
    system_id: str = ""
    patch: dict | None = None  # description, address, password of the PATCH
    patched: int | str | None = None
    extra_mac: str = ""
    added: int | str | None = None

    def versions(self) -> list[tuple[str, str, str]]:
        """(description, BMC address, password) the machine may have: before or after the PATCH."""
        before = ("", self.address, self.password)
        if self.patch is None:
            return [before]
        after = (self.patch["description"], self.patch["address"], self.patch["password"])
        return [after] if self.patched == 200 else [before, after]


@dataclass
class Burst:
    """The writes of every thread and a count of requests answered or broken so far."""

    base: str
    authorization: str
    threads: int
    per_thread: int
    writes: list[Write] = field(default_factory=list)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, method: str, path: str, body: dict) -> tuple[int | str, str]:
        try:
            status, _headers, text = call(self.base, method, path, self.authorization, body)
        except (OSError, http.client.HTTPException):
            status, text = ERROR, ""
        with self.lock:
            self.done += 1
        return status, text

    def run(self) -> None:
        """Run every thread's writes; return when all are answered or broken."""
        workers = [threading.Thread(target=self.client, args=(n,)) for n in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def client(self, thread: int) -> None:
        """Creates; every 4th request a PATCH, every 5th an added interface, of a created one."""
        mine: list[Write] = []
        for n in range(self.per_thread):
            answered = [w for w in mine if w.created == 201]
            to_patch = [w for w in answered if w.patch is None]
            to_grow = [w for w in answered if not w.extra_mac]
            if n % 4 == 3 and to_patch:
                self.patch(to_patch[-1], thread, n)
            elif n % 5 == 4 and to_grow:
                self.add_interface(to_grow[-1], thread, n)
            else:
                mine.append(self.create(thread, n))
        with self.lock:
            self.writes.extend(mine)

    def create(self, thread: int, n: int) -> Write:
        write = Write(hostname=f"burst-{thread}-{n}", address=f"10.99.{thread}.{n + 1}",
                      macs=[mac(thread, n, 1), mac(thread, n, 2)], password=f"pw-{thread}-{n}")
        write.created, text = self.request("POST", "/api/v1/machines/", {
            "hostname": write.hostname, "mac_addresses": write.macs, "power_type": "ipmi",
            "power_parameters": {"power_address": write.address, "power_user": "admin",
                                 "power_pass": write.password}})
        if write.created == 201:
            write.system_id = json.loads(text)["system_id"]
        return write

    def patch(self, write: Write, thread: int, n: int) -> None:
        write.patch = {"description": f"patched {n}", "address": f"10.98.{thread}.{n + 1}",
                       "password": f"new-{thread}-{n}"}
        write.patched, _text = self.request("PATCH", f"/api/v1/machines/{write.system_id}/", {
            "description": write.patch["description"], "power_type": "ipmi",
            "power_parameters": {"power_address": write.patch["address"],
                                 "power_user": "admin", "power_pass": write.patch["password"]}})

    def add_interface(self, write: Write, thread: int, n: int) -> None:
        write.extra_mac = mac(thread, n, 3)
        write.added, _text = self.request(
            "POST", f"/api/v1/machines/{write.system_id}/interfaces/",
            {"name": "eth9", "mac_address": write.extra_mac})


def mac(thread: int, n: int, port: int) -> str:
    return f"52:54:{thread:02x}:{n >> 8:02x}:{n & 255:02x}:{port:02x}"

