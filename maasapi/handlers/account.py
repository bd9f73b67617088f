"""account/prefs/sshkeys/ (your SSH keys; create answers 201 as MAAS does) and boot-resources/
(read, is_importing). Images are built by `manage.py import_boot_images` or uploaded through
/api/v1/: there is no `import` operation, so none is ever in progress."""
from django.http import HttpResponse

from maasapi.errors import NotFound
from maasapi.framework import Handler, operation
from maasapi.views import render
from nodes.models import BootResource
from nodes.selectors import ssh_keys_visible_to
from nodes.services import accounts


def sshkey_object(key) -> dict:
    """An SSH key as MAAS shows it."""
    return {"id": key.id, "key": key.key, "keysource": None,
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
    key = ssh_keys_visible_to(user).filter(pk=int(key_id) if key_id.isdigit() else -1).first()
    if key is None:
        raise NotFound("No SSHKey matches the given query.")
    return key


def boot_resource_object(resource: BootResource) -> dict:
    """A boot resource as MAAS shows it."""
    return {"id": resource.id, "type": "Uploaded" if resource.origin == "uploaded" else "Synced",
            "name": resource.name, "architecture": resource.architecture,
            "title": resource.title or resource.name, "subarches": "generic",
            "resource_uri": BootResourceHandler.uri(id=resource.id)}


class BootResourcesHandler(Handler):
    """Manage the boot resources."""

    name = "BootResourcesHandler"
    path = "boot-resources/"

    def read(self, request, params):
        """List boot resources."""
        return [boot_resource_object(r) for r in BootResource.objects.order_by("name")]

    @operation(idempotent=True)
    def is_importing(self, request, params):
        """Whether an import is running: never (images are built by manage.py)."""
        return False

class BootResourceHandler(Handler):
    """Manage a boot resource."""

    name = "BootResourceHandler"
    path = "boot-resources/{id}/"

    def read(self, request, params, id):
        """Read a boot resource."""
        resource = BootResource.objects.filter(pk=int(id) if id.isdigit() else -1).first()
        if resource is None:
            raise NotFound("No BootResource matches the given query.")
        return boot_resource_object(resource)
