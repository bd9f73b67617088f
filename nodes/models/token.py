"""Per-machine metadata tokens: issued when a job starts, revoked when it ends.

The token itself is never stored: it is an HMAC of a random nonce, so the region can put it on
the kernel command line again (boot config) and check it, while the database holds the nonce.
"""
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models


def new_nonce() -> str:
    return secrets.token_hex(16)


def derive_token(nonce: str) -> str:
    key = hashlib.sha256(b"metal-machine-token:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:40]


class MachineToken(models.Model):
    """The credential of a machine's ephemeral environment for the metadata API."""

    machine = models.ForeignKey("nodes.Machine", on_delete=models.CASCADE,
                                related_name="tokens")
    nonce = models.CharField(max_length=64, unique=True, default=new_nonce)
    purpose = models.CharField(max_length=32)
    # What the job was asked to do, for jobs without script sets (erase: {"mode": "quick"}).
    options = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose} token of {self.machine_id}"

    @property
    def key(self) -> str:
        return derive_token(self.nonce)

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key, str(key))
