"""API keys in MAAS's three-part form consumer:token:secret; only a hash of the secret is kept."""
import hashlib
import hmac
import secrets
import string

from django.conf import settings
from django.db import models

from maasproject.validators import validate_name


def hash_secret(secret: str) -> str:
    """Hash a token secret (random, high entropy: a keyed SHA-256 is enough)."""
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


KEY_ALPHABET = string.ascii_letters + string.digits


def _random_text(length: int) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


class ApiKey(models.Model):
    """An API credential of a user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=256, blank=True, default="", validators=[validate_name])
    consumer_key = models.CharField(max_length=32)
    token_key = models.CharField(max_length=32, unique=True)
    secret_hash = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.user} {self.consumer_key}:{self.token_key}"

    @classmethod
    def new_parts(cls) -> tuple[str, str, str]:
        # Letters and digits only, as MAAS's keys: a part starting with "-" reads as an option
        # on a command line (`maas login -p NAME --apikey KEY URL`).
        return _random_text(18), _random_text(18), _random_text(32)

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))
