"""account/prefs/sshkeys/?op=import against a key server of the test's own on 127.0.0.1 (the
Launchpad and GitHub URLs are settings): keys saved, bad keysource 400, a source down 503, and
nothing saved on any error. No traffic leaves 127.0.0.1."""
import base64
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nodes.models import SSHKey
from tests.maasapi.conftest import API
from tests.processes import free_tcp_port

pytestmark = pytest.mark.django_db
IMPORT = API + "account/prefs/sshkeys/?op=import"


def ed25519(seed: int, comment: str) -> str:
    name = b"ssh-ed25519"
    blob = struct.pack(">I", len(name)) + name + struct.pack(">I", 32) + bytes([seed]) * 32
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


# path → (status, body): what the local "Launchpad" and "GitHub" publish.
PAGES = {
    "/lp/~alice/+sshkeys": (200, f"{ed25519(1, 'alice@laptop')}\n\n{ed25519(2, 'alice@desk')}\n"),
    "/gh/bob.keys": (200, f"{ed25519(3, '')}\n"),
    "/gh/empty.keys": (200, ""),
    "/gh/junk.keys": (200, f"{ed25519(4, 'ok')}\n<html>Not a key</html>\n"),
    "/gh/broken.keys": (502, "bad gateway"),
}


class KeyServer(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = PAGES.get(self.path, (404, "no such user"))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def key_server(settings, monkeypatch):
    """The key sources served from 127.0.0.1 (proxies off: nothing may go elsewhere)."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeyServer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings.SSH_KEYS_IMPORT_URLS = {"lp": base + "/lp/~{user}/+sshkeys",
                                     "gh": base + "/gh/{user}.keys"}
    settings.SSH_KEYS_IMPORT_TIMEOUT = 5
    yield base
    server.shutdown()
    server.server_close()


def test_import_from_launchpad_saves_the_keys_once(maas_user, key_server):
    answer = maas_user.post(IMPORT, {"keysource": "lp:alice"})
    assert answer.status_code == 200, answer.content
    keys = answer.json()
    assert [k["key"] for k in keys] == [ed25519(1, "alice@laptop"), ed25519(2, "alice@desk")]
    assert {k["keysource"] for k in keys} == {"lp:alice"}
    assert all(k["resource_uri"].endswith(f"/sshkeys/{k['id']}/") for k in keys)
    again = maas_user.post(IMPORT, {"keysource": "lp:alice"}).json()
    assert [k["id"] for k in again] == [k["id"] for k in keys]
    assert SSHKey.objects.filter(user=maas_user.user).count() == 2
    listed = maas_user.get(API + "account/prefs/sshkeys/").json()
    assert {k["keysource"] for k in listed} == {"lp:alice"}


def test_import_from_github_keeps_a_key_added_by_hand(maas_user, key_server):
    by_hand = maas_user.post(API + "account/prefs/sshkeys/", {"key": ed25519(3, "mine")}).json()
    keys = maas_user.post(IMPORT, {"keysource": "gh:bob"}).json()
    assert [k["id"] for k in keys] == [by_hand["id"]] and keys[0]["keysource"] is None
    assert SSHKey.objects.count() == 1


@pytest.mark.parametrize("keysource", ["", "alice", "xx:alice", "lp:", "lp:../etc", "gh:a b"])
def test_a_bad_keysource_is_400(maas_user, key_server, keysource):
    answer = maas_user.post(IMPORT, {"keysource": keysource})
    assert answer.status_code == 400 and "keysource" in answer.json()
    assert not SSHKey.objects.exists()


@pytest.mark.parametrize("keysource, status, words", [
    ("lp:nobody", 400, "has no user nobody"),
    ("gh:empty", 400, "has no SSH keys"),
    ("gh:junk", 400, "not an SSH public key"),
    ("gh:broken", 503, "answered 502"),
])
def test_a_source_that_fails_saves_nothing(maas_user, key_server, keysource, status, words):
    answer = maas_user.post(IMPORT, {"keysource": keysource})
    assert answer.status_code == status and words in answer.content.decode()
    assert not SSHKey.objects.exists()


def test_an_unreachable_source_is_503(maas_user, settings, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    closed = f"http://127.0.0.1:{free_tcp_port()}"  # nothing listens there
    settings.SSH_KEYS_IMPORT_URLS = {"lp": closed + "/~{user}/+sshkeys", "gh": closed}
    answer = maas_user.post(IMPORT, {"keysource": "lp:alice"})
    assert answer.status_code == 503 and answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.content.decode().startswith(f"Cannot reach Launchpad ({closed}/~alice/")
    assert not SSHKey.objects.exists()
