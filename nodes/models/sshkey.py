"""Users' SSH public keys: installed for rescue mode (and deployed machines) by the metadata API.

A key is one OpenSSH public key line, `type base64 [comment]`, checked the way OpenSSH reads
it: a known key type, valid base64, and a blob whose first field names that same type.
"""
import base64
import binascii
import hashlib
import struct

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

KEY_TYPES = frozenset({
    "ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
MAX_KEY_LENGTH = 16 * 1024


def parse_public_key(text: str) -> tuple[str, bytes, str]:
    """(type, blob, comment) of an OpenSSH public key line; ValidationError if it is not one."""
    text = " ".join(str(text).split())
    if not text:
        raise ValidationError("An SSH public key is required.")
    if len(text) > MAX_KEY_LENGTH:
        raise ValidationError(f"An SSH public key is at most {MAX_KEY_LENGTH} characters.")
    parts = text.split(" ", 2)
    if len(parts) < 2:
        raise ValidationError("Not an OpenSSH public key: expected 'type base64 [comment]'.")
    key_type, encoded = parts[0], parts[1]
    if key_type not in KEY_TYPES:
        raise ValidationError(f"Unknown SSH key type {key_type[:40]!r} (options before the key "
                              f"are not accepted): use one of {', '.join(sorted(KEY_TYPES))}.")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("The key data is not valid base64.") from exc
    if _blob_type(blob) != key_type.encode():
        raise ValidationError(f"The key data is not a {key_type} key.")
    return key_type, blob, parts[2] if len(parts) > 2 else ""


def _blob_type(blob: bytes) -> bytes:
    """The key type the blob starts with (a uint32 length then the name), or b''."""
    if len(blob) < 4:
        return b""
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + length] if 0 < length <= 64 and len(blob) > 4 + length else b""


def normalise_public_key(text: str) -> str:
    """A key line with its whitespace collapsed (ValidationError unless it is a key)."""
    key_type, blob, comment = parse_public_key(text)
    encoded = base64.b64encode(blob).decode()
    return f"{key_type} {encoded} {comment}".strip()


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (as `ssh-keygen -l` prints it)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


class SSHKey(models.Model):
    """One SSH public key of a user (a user does not add the same key twice)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys"
    )
    key = models.TextField(help_text="OpenSSH public key: type base64 [comment]")
    # Where an imported key came from (`lp:user`, `gh:user`); blank for a key added by hand.
    keysource = models.CharField(max_length=128, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "id"]
        verbose_name = "SSH key"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="unique_sshkey_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.key_type} {self.comment}".strip()

    def clean(self) -> None:
        try:
            self.key = normalise_public_key(self.key)
        except ValidationError as exc:
            raise ValidationError({"key": exc.messages}) from exc

    @property
    def key_type(self) -> str:
        return self.key.split(" ", 1)[0]

    @property
    def comment(self) -> str:
        parts = self.key.split(" ", 2)
        return parts[2] if len(parts) > 2 else ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(parse_public_key(self.key)[1])
