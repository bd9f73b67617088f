"""account/prefs/sshkeys/: your SSH keys (create answers 201 as MAAS does) and `import` from
Launchpad or GitHub (nodes.services.sshkey_import; the sources' URLs are settings)."""
from django.http import HttpResponse

from maasapi.framework import Handler, operation
from maasapi.handlers.network_input import path_object
from maasapi.views import render
from nodes.selectors import ssh_keys_visible_to
from nodes.services import accounts
from nodes.services.sshkey_import import sshkeys_import


def sshkey_object(key) -> dict:
    """An SSH key as MAAS shows it."""
    return {"id": key.id, "key": key.key, "keysource": key.keysource or None,
            "resource_uri": SSHKeyHandler.uri(id=key.id)}


class SSHKeysHandler(Handler):
    """Manage your SSH keys."""

    name = "SSHKeysHandler"
    path = "account/prefs/sshkeys/"

    def read(self, request, params):
        """List your SSH keys."""
        keys = ssh_keys_visible_to(request.user).filter(user=request.user).order_by("id")
        return [sshkey_object(key) for key in keys]

    def create(self, request, params):
        """Add an SSH public key to your account.

        :param key: An OpenSSH public key line.
        :type key: String
        """
        key = accounts.sshkey_create(request.user, params.text("key"), actor=request.user)
        answer: HttpResponse = render(sshkey_object(key))
        answer.status_code = 201
        return answer

    @operation(idempotent=False, name="import")
    def import_(self, request, params):
        """Import SSH keys from Launchpad or GitHub; keys you already have are kept as they are.

        :param keysource: `lp:<user>` (Launchpad) or `gh:<user>` (GitHub).
        :type keysource: String
        """
        keys = sshkeys_import(request.user, params.text("keysource"), actor=request.user)
        return [sshkey_object(key) for key in keys]


class SSHKeyHandler(Handler):
    """Manage one of your SSH keys."""

    name = "SSHKeyHandler"
    path = "account/prefs/sshkeys/{id}/"

    def read(self, request, params, id):
        """Read an SSH key."""
        return sshkey_object(_key(request.user, id))

    def delete(self, request, params, id):
        """Delete an SSH key."""
        accounts.sshkey_delete(_key(request.user, id), actor=request.user)


def _key(user, key_id: str):
    return path_object(ssh_keys_visible_to(user), key_id, "SSHKey")
