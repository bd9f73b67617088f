"""tags/ and tags/{name}/: CRUD, update_nodes and machines, on the tag services."""
from django.shortcuts import get_object_or_404

from maasapi.errors import BadRequest
from maasapi.framework import Handler, operation
from maasapi.objects import machine_objects
from nodes.models import Tag
from nodes.selectors import machines_visible_to
from nodes.services import tags

NO_DEFINITIONS = ("Tag definitions (XPath over commissioning data) are not supported: tag "
                  "machines with op=update_nodes.")


def tag_object(tag: Tag) -> dict:
    """A tag as MAAS shows it."""
    return {"name": tag.name, "definition": "", "comment": tag.comment,
            "kernel_opts": tag.kernel_opts, "resource_uri": TagHandler.uri(name=tag.name)}


def _fields(params) -> dict:
    if params.text("definition"):
        raise BadRequest.fields({"definition": [NO_DEFINITIONS]})
    return {key: params.text(key) for key in tags.TAG_FIELDS if key in params}


class TagsHandler(Handler):
    """Manage all tags known to MAAS."""

    name = "TagsHandler"
    path = "tags/"

    def read(self, request, params):
        """List tags."""
        return [tag_object(tag) for tag in Tag.objects.order_by("name")]

    def create(self, request, params):
        """Create a tag (administrators).

        :param name: The name of the tag.
        :type name: String
        :param comment: A description of what the tag is for.
        :type comment: String
        :param kernel_opts: Kernel options for machines with this tag.
        :type kernel_opts: String
        """
        return tag_object(tags.tag_create(request.user, **_fields(params)))


class TagHandler(Handler):
    """Manage a tag."""

    name = "TagHandler"
    path = "tags/{name}/"

    def read(self, request, params, name):
        """Read a tag."""
        return tag_object(get_object_or_404(Tag, name=name))

    def update(self, request, params, name):
        """Update a tag (administrators).

        :param name: The new name of the tag.
        :type name: String
        :param comment: A description of what the tag is for.
        :type comment: String
        :param kernel_opts: Kernel options for machines with this tag.
        :type kernel_opts: String
        """
        tag = get_object_or_404(Tag, name=name)
        return tag_object(tags.tag_update(tag, request.user, **_fields(params)))

    def delete(self, request, params, name):
        """Delete a tag (administrators)."""
        tags.tag_delete(get_object_or_404(Tag, name=name), request.user)

    @operation(idempotent=False)
    def update_nodes(self, request, params, name):
        """Add or remove the tag on machines (administrators).

        :param add: System ids of machines to tag (repeatable).
        :type add: String
        :param remove: System ids of machines to untag (repeatable).
        :type remove: String
        """
        tag = get_object_or_404(Tag, name=name)
        return tags.tag_update_nodes(tag, request.user, add=params.list("add"),
                                     remove=params.list("remove"))

    @operation(idempotent=True)
    def machines(self, request, params, name):
        """The machines with this tag that you can see."""
        tag = get_object_or_404(Tag, name=name)
        return machine_objects(machines_visible_to(request.user).filter(tags=tag).order_by("id"))
