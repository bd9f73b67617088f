"""Import users' SSH public keys from Launchpad (`lp:user`) or GitHub (`gh:user`).

The keys are fetched first, every line checked, and only then saved, in one transaction: a
source that fails or serves something else than keys saves nothing. Where keys come from is
settings.SSH_KEYS_IMPORT_URLS (one URL per protocol, `{user}` filled in), one key per line.
"""
import re
import urllib.error
import urllib.request
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from maasproject.errors import FieldErrors
from maasproject.permissions import require_admin
from nodes.choices import EventLevel
from nodes.models import SSHKey
from nodes.models.sshkey import normalise_public_key
from nodes.services.errors import KeySourceUnavailable
from nodes.services.events import event_record

SOURCES = {"lp": "Launchpad", "gh": "GitHub"}
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$")
MAX_RESPONSE = 256 * 1024


def parse_keysource(keysource: str) -> tuple[str, str]:
    """(protocol, user) of `lp:user` or `gh:user`; a field error otherwise."""
    protocol, _, user = (keysource or "").strip().partition(":")
    if protocol not in SOURCES or not _USER.match(user):
        raise FieldErrors({"keysource": ["Expected lp:<user> (Launchpad) or gh:<user> (GitHub)."]})
    return protocol, user


def fetch_public_keys(protocol: str, user: str) -> list[str]:
    """The key lines the source publishes for `user` (blank lines and comments dropped)."""
    url = settings.SSH_KEYS_IMPORT_URLS[protocol].format(user=quote(user, safe=""))
    source = f"{SOURCES[protocol]} ({url})"
    try:
        with urllib.request.urlopen(url, timeout=settings.SSH_KEYS_IMPORT_TIMEOUT) as answer:
            body = answer.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise FieldErrors({"keysource": [f"{SOURCES[protocol]} has no user {user}."]}) from exc
        raise KeySourceUnavailable(f"{source} answered {exc.code}: try again later.") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KeySourceUnavailable(f"Cannot reach {source}: {reason}.") from exc
    if len(body) > MAX_RESPONSE:
        raise FieldErrors({"keysource": [f"{source} sent more than {MAX_RESPONSE} bytes."]})
    lines = body.decode("utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sshkeys_import(user, keysource: str, *, actor=None) -> list[SSHKey]:
    """Import `user`'s keys from `lp:name`/`gh:name`: add the new ones, keep those already there;
    every key of the source, as saved."""
    if actor is not None and actor.pk != user.pk:
        require_admin(actor, "import SSH keys for other users")
    protocol, name = parse_keysource(keysource)
    keysource = f"{protocol}:{name}"
    try:
        wanted = [normalise_public_key(line) for line in fetch_public_keys(protocol, name)]
    except ValidationError as exc:
        raise FieldErrors({"keysource": [f"{keysource} served something that is not an SSH "
                                         f"public key: {' '.join(exc.messages)}"]}) from exc
    if not wanted:
        raise FieldErrors({"keysource": [f"{keysource} has no SSH keys."]})
    return _save(user, wanted, keysource, actor)


@transaction.atomic
def _save(user, wanted: list[str], keysource: str, actor) -> list[SSHKey]:
    existing = {tuple(key.key.split(" ")[:2]): key for key in SSHKey.objects.filter(user=user)}
    keys = []
    for line in wanted:
        key = existing.get(tuple(line.split(" ")[:2]))
        if key is None:
            key = SSHKey.objects.create(user=user, key=line, keysource=keysource)
            existing[tuple(line.split(" ")[:2])] = key
            event_record(machine=None, type="sshkey_created", level=EventLevel.AUDIT,
                         user=actor, description=f"SSH key {key.key_type} {key.fingerprint} "
                                                 f"imported from {keysource} for {user.username}")
        if key not in keys:
            keys.append(key)
    return keys
