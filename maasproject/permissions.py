"""Who is an administrator, for services of every app (API permission classes: maasproject.api)."""
from maasproject.errors import NotPermitted


def is_admin(user) -> bool:
    """Admins are Django superusers, as in MAAS."""
    return bool(user is not None and user.is_authenticated and user.is_superuser)


def require_admin(user, what: str) -> None:
    """Raise NotPermitted unless `user` is an admin; None is the system (tasks, beat)."""
    if user is not None and not is_admin(user):
        raise NotPermitted(f"Only administrators can {what}.")
