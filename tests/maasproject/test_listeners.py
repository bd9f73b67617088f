"""The rack listener: the rack API on a gunicorn of its own, which answers heartbeats and boot
decisions while every worker of the main listener is held by other clients."""
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from nodes.choices import NodeStatus
from nodes.selectors.boot import region_url
from tests.factories import InterfaceFactory, MachineFactory
from tests.processes import free_tcp_port, start, stop, wait_until
from tests.zones.rack_helpers import register

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MAIN_WORKERS = 2
HELD = 6  # slow clients: one per main worker, the rest wait in its listen queue
MAC = "52:54:00:aa:bb:01"


def request(url: str, token: str = "", method: str = "GET",
            timeout: float = 10) -> tuple[int, bytes]:
    """(status, body); HTTP errors are answers too, other failures raise."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Rack {token}"
    data = b"{}" if method == "POST" else None
    try:
        with NO_PROXY.open(urllib.request.Request(url, data=data, headers=headers,
                                                  method=method), timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def answers_401(process, base: str) -> bool:
    assert process.poll() is None, "gunicorn exited"
    try:
        return request(base + "/api/v1/rack/config/")[0] == 401
    except OSError:
        return False


def serve(tmp_path, name: str, args: list[str], **env: str):
    """gunicorn (maasproject.wsgi) on a spare port with `args`, once it answers; (process, URL)."""
    port, log = free_tcp_port(), tmp_path / f"{name}.log"
    # --no-control-socket: the default socket (~/.gunicorn/) is one for every master of a user.
    web = start(["-m", "gunicorn", "maasproject.wsgi", "-b", f"127.0.0.1:{port}",
                 "--timeout", "60", "--no-control-socket", *args], log, **env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_401(web, base), 60, log.read_text)
    except BaseException:
        stop(web)
        raise
    return web, base


def hold(base: str) -> socket.socket:
    """A client that sends its request's headers and never ends them: a sync worker that
    accepted it waits for the rest."""
    port = int(base.rsplit(":", 1)[1])
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    client.sendall(b"GET /api/v1/machines/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return client


def release(client: socket.socket) -> bytes:
    """End the held request's headers; the status line of its answer."""
    with client:
        client.sendall(b"Connection: close\r\n\r\n")
        return client.recv(64).split(b"\r\n", 1)[0]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_rack_listener_answers_while_the_main_listener_is_saturated(tmp_path):
    rack, token = register("listeners")
    credentials = f"{rack.system_id}:{token}"
    machine = MachineFactory(status=NodeStatus.COMMISSIONING)
    InterfaceFactory(machine=machine, mac_address=MAC)
    main, main_url = serve(tmp_path, "main", ["-w", str(MAIN_WORKERS)], REGION_LISTENER="main")
    main_port = main_url.rsplit(":", 1)[1]
    try:
        rack_web, rack_url = serve(tmp_path, "rack", ["-k", "gthread", "-w", "1", "--threads",
                                                      "4"],
                                   REGION_LISTENER="rack", REGION_PORT=main_port, REGION_URL="")
    except BaseException:
        stop(main)
        raise
    held: list[socket.socket] = []
    try:
        # Both listeners serve the rack API (racks and the lab that point at the main one).
        assert request(main_url + "/api/v1/rack/heartbeat/", credentials, "POST")[0] == 200
        assert request(rack_url + "/api/v1/rack/heartbeat/", credentials, "POST")[0] == 200
        held = [hold(main_url) for _ in range(HELD)]
        time.sleep(1)  # the main workers accept their first clients

        # Saturated: a heartbeat to the main listener waits behind the held clients.
        with pytest.raises(TimeoutError):
            request(main_url + "/api/v1/rack/heartbeat/", credentials, "POST", timeout=3)

        started = time.monotonic()
        status, _ = request(rack_url + "/api/v1/rack/heartbeat/", credentials, "POST")
        took = time.monotonic() - started
        assert status == 200 and took < 5, (status, took)
        status, body = request(f"{rack_url}/api/v1/rack/boot/{MAC.replace(':', '-')}/",
                               credentials, timeout=5)
        assert status == 200, body
        decision = json.loads(body)
        assert decision["action"] == "commission"
        # The rack listener has no metadata API: the machine is sent to the main listener.
        assert f"metal.region=http://127.0.0.1:{main_port}/ " in decision["kernel_params"]

        # Once the slow clients finish, the main listener answers what waited.
        assert all(release(client).endswith(b" 401 Unauthorized") for client in held)
        assert request(main_url + "/api/v1/rack/heartbeat/", credentials, "POST")[0] == 200
    finally:
        for client in held:
            client.close()
        stop(rack_web)
        stop(main)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_rack_listener_serves_nothing_but_the_rack_api(tmp_path):
    rack, token = register("rack-only")
    rack_web, rack_url = serve(tmp_path, "rack", ["-w", "1"], REGION_LISTENER="rack")
    try:
        assert request(rack_url + "/api/v1/rack/config/", f"{rack.system_id}:{token}")[0] == 200
        assert request(rack_url + "/healthz")[0] == 200  # a load balancer checks it too
        for path in ("/api/v1/machines/", "/api/v1/", "/api/v1/metadata/job/",
                     "/MAAS/metadata/", "/MAAS/api/2.0/machines/", "/admin/", "/"):
            status, body = request(rack_url + path)
            assert status == 404, (path, status)
        assert json.loads(request(rack_url + "/api/v1/machines/")[1]) == {"detail": "Not found."}
    finally:
        stop(rack_web)


@pytest.mark.parametrize(("listener", "region", "asked", "expected"), [
    ("rack", "", "http://10.0.0.2:5241/", "http://10.0.0.2:5240/"),
    ("rack", "", "http://[fd00::2]:5241/", "http://[fd00::2]:5240/"),
    ("rack", "", "http://region.example:5241", "http://region.example:5240/"),
    ("rack", "http://region:8000/", "http://10.0.0.2:5241/", "http://region:8000/"),
    ("main", "", "http://10.0.0.2:5240/", "http://10.0.0.2:5240/"),
])
def test_machines_are_sent_to_the_main_listener(settings, listener, region, asked, expected):
    settings.REGION_LISTENER, settings.REGION_URL, settings.REGION_PORT = listener, region, 5240
    assert region_url(asked) == expected
