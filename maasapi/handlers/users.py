"""users/ and users/{username}/: whoami for everyone, the rest for administrators."""
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404

from maasapi.errors import Forbidden
from maasapi.framework import Handler, operation
from maasproject.permissions import is_admin
from nodes.services import accounts

User = get_user_model()


def user_object(user) -> dict:
    """A user as MAAS shows it."""
    return {"username": user.username, "email": user.email,
            "is_superuser": user.is_superuser, "is_local": True,
            "resource_uri": UserHandler.uri(username=user.username)}


class UsersHandler(Handler):
    """Manage the user accounts of this MAAS."""

    name = "UsersHandler"
    path = "users/"

    def read(self, request, params):
        """List users (administrators see everyone, others themselves)."""
        users = User.objects.order_by("username")
        if not is_admin(request.user):
            users = users.filter(pk=request.user.pk)
        return [user_object(user) for user in users]

    def create(self, request, params):
        """Create a user (administrators).

        :param username: Identifier-style username for the new user.
        :type username: String
        :param email: Email address for the new user.
        :type email: String
        :param password: Password for the new user.
        :type password: String
        :param is_superuser: Whether the new user is to be an administrator.
        :type is_superuser: Boolean
        """
        user = accounts.user_create(
            request.user, username=params.text("username"), password=params.text("password"),
            email=params.text("email"), is_superuser=params.boolean("is_superuser"))
        return user_object(user)

    @operation(idempotent=True)
    def whoami(self, request, params):
        """The user making the request."""
        return user_object(request.user)


class UserHandler(Handler):
    """Manage a user account."""

    name = "UserHandler"
    path = "users/{username}/"

    def read(self, request, params, username):
        """Read a user (administrators, or the user itself)."""
        if username != request.user.username and not is_admin(request.user):
            raise Forbidden("User is not allowed access to this API.")
        return user_object(get_object_or_404(User, username=username))

    def delete(self, request, params, username):
        """Delete a user (administrators).

        :param transfer_resources_to: Not supported: a user owning machines is refused.
        :type transfer_resources_to: String
        """
        accounts.user_delete(request.user, get_object_or_404(User, username=username))
