"""API permission classes shared by every app."""
from rest_framework import permissions

from maasproject.permissions import is_admin


class IsAdminOrReadOnly(permissions.BasePermission):
    """Any authenticated user reads; only admins (superusers) write."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


class IsAdmin(permissions.BasePermission):
    """Only admins (superusers)."""

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)
