"""User, API key and SSH key writes; each writes an audit Event (never with a secret in it)."""
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from maasproject.permissions import require_admin
from nodes.choices import EventLevel
from nodes.models import ApiKey, SSHKey
from nodes.models.apikey import hash_secret
from nodes.models.sshkey import normalise_public_key
from nodes.services.events import event_record

User = get_user_model()

USER_FIELDS = frozenset({"username", "email", "is_superuser", "is_active"})
# An API key's last_used is written at most this often (not on every request).
LAST_USED_GRANULARITY = timedelta(minutes=1)


def generate_password() -> str:
    """A random password for a user created without one."""
    return secrets.token_urlsafe(15)


def check_password(password: str, user) -> None:
    """Raise a field ValidationError unless `password` passes Django's validators."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


def _record(actor, type: str, description: str) -> None:
    event_record(
        machine=None, type=type, level=EventLevel.AUDIT, user=actor, description=description
    )


@transaction.atomic
def user_create(actor, *, username: str, password: str, email: str = "",
                is_superuser: bool = False, is_active: bool = True):
    """Create a user; an admin (superuser) is also staff so that it can use the Django admin."""
    require_admin(actor, "create users")
    user = User(username=username, email=email, is_active=is_active)
    _set_admin(user, is_superuser)
    user.full_clean(exclude=["password"])
    check_password(password, user)
    user.set_password(password)
    user.save()
    _record(actor, "user_created", f"User {user.username} created" + _role(user))
    return user


@transaction.atomic
def user_update(actor, user, *, password: str | None = None, **fields):
    """Change a user's fields or password; an admin cannot demote or deactivate itself."""
    require_admin(actor, "edit users")
    _check_user_fields(fields)
    if actor is not None and actor.pk == user.pk:
        _refuse_self_lockout(fields)
    for name, value in fields.items():
        if name == "is_superuser":
            _set_admin(user, value)
        else:
            setattr(user, name, value)
    user.full_clean(exclude=["password"])
    if password is not None:
        check_password(password, user)
        user.set_password(password)
    user.save()
    changed = sorted(set(fields) | ({"password"} if password is not None else set()))
    _record(actor, "user_updated", f"User {user.username} changed: {', '.join(changed)}")
    return user


@transaction.atomic
def user_delete(actor, user) -> None:
    """Delete a user and its API keys; refused for yourself and for owners of machines."""
    require_admin(actor, "delete users")
    if actor is not None and actor.pk == user.pk:
        raise ValidationError("An administrator cannot delete itself.")
    owned = user.machines.count()
    if owned:
        raise ValidationError(
            f"User {user.username} cannot be deleted: {owned} machine(s) are still allocated."
        )
    _record(actor, "user_deleted", f"User {user.username} deleted")
    user.delete()


def _set_admin(user, value: bool) -> None:
    user.is_superuser = bool(value)
    user.is_staff = bool(value)


def _role(user) -> str:
    return " (administrator)" if user.is_superuser else ""


def _check_user_fields(fields: dict) -> None:
    unknown = set(fields) - USER_FIELDS
    if unknown:
        raise ValueError(f"Not user fields: {', '.join(sorted(unknown))}")


def _refuse_self_lockout(fields: dict) -> None:
    if fields.get("is_superuser") is False:
        raise ValidationError({"is_superuser": ["You cannot remove your own admin rights."]})
    if fields.get("is_active") is False:
        raise ValidationError({"is_active": ["You cannot deactivate yourself."]})


@transaction.atomic
def apikey_authenticate(consumer_key: str, token_key: str, secret: str):
    """(user, ApiKey) for a valid, active user's key, else None (API_KEY_AUTHENTICATOR)."""
    key = ApiKey.objects.select_related("user").filter(token_key=token_key).first()
    if (key is None or key.consumer_key != consumer_key or not key.check_secret(secret)
            or not key.user.is_active):
        return None
    now = timezone.now()
    if key.last_used is None or now - key.last_used > LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)
    return key.user, key


def apikey_create(user, name: str = "", *, actor=None) -> tuple[ApiKey, str]:
    """Create an API key for `user`; return it and its full `consumer:token:secret` (once)."""
    if actor is not None and actor.pk != user.pk:
        require_admin(actor, "create API keys for other users")
    consumer, token, secret = ApiKey.new_parts()
    key = ApiKey.objects.create(
        user=user, name=name, consumer_key=consumer, token_key=token,
        secret_hash=hash_secret(secret),
    )
    _record(actor, "apikey_created", f"API key {token} created for {user.username}")
    return key, f"{consumer}:{token}:{secret}"


@transaction.atomic
def apikey_revoke(key: ApiKey, *, actor=None) -> None:
    """Delete an API key: it stops working at once."""
    if actor is not None and actor.pk != key.user_id:
        require_admin(actor, "revoke API keys of other users")
    _record(actor, "apikey_revoked", f"API key {key.token_key} of {key.user.username} revoked")
    key.delete()


@transaction.atomic
def sshkey_create(user, key: str, *, actor=None) -> SSHKey:
    """Add an SSH public key to `user` (field errors for a malformed key or one already there)."""
    if actor is not None and actor.pk != user.pk:
        require_admin(actor, "add SSH keys for other users")
    ssh_key = SSHKey(user=user, key=sshkey_check(user, key))
    ssh_key.full_clean()
    ssh_key.save()
    _record(actor, "sshkey_created",
            f"SSH key {ssh_key.key_type} {ssh_key.fingerprint} added for {user.username}")
    return ssh_key


def sshkey_check(user, key: str) -> str:
    """The normalised key line; a field error if it is not a key or `user` already has it
    (the same type and key data, whatever the comment)."""
    try:
        key = normalise_public_key(key)
    except ValidationError as exc:
        raise ValidationError({"key": exc.messages}) from exc
    material = key.split(" ")[:2]
    if any(k.key.split(" ")[:2] == material for k in SSHKey.objects.filter(user=user)):
        raise ValidationError({"key": ["This key has already been added for this user."]})
    return key


@transaction.atomic
def sshkey_delete(ssh_key: SSHKey, *, actor=None) -> None:
    """Remove an SSH key (its owner, or an admin)."""
    if actor is not None and actor.pk != ssh_key.user_id:
        require_admin(actor, "delete SSH keys of other users")
    _record(actor, "sshkey_deleted", f"SSH key {ssh_key.fingerprint} of "
                                     f"{ssh_key.user.username} deleted")
    ssh_key.delete()
