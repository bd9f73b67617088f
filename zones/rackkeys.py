"""Each rack's power key: derived, never stored, and new whenever the rack's token changes."""
import base64

from django.utils.crypto import salted_hmac


def rack_power_key(system_id: str, token_hash: str) -> str:
    """The Fernet key the region seals this rack's power parameters with (rack_worker.sealing).

    Derived from SECRET_KEY, the rack's system_id and its token hash: every region process
    computes the same key without storing it, and a re-registration (a new token) changes it.
    """
    digest = salted_hmac("metal.rack-power-key", f"{system_id}:{token_hash}",
                         algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()
