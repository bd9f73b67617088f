"""Machine token authentication for the metadata API (API keys: maasproject.api.authentication)."""
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions

from maasproject.api.authentication import HeaderAuthentication
from nodes.services.tokens import TokenInvalid, token_authenticate


class MachineTokenAuthentication(HeaderAuthentication):
    """`Authorization: Machine <system_id>:<token>`, from a machine's ephemeral environment.

    No header: anonymous (the view decides). A malformed, unknown or revoked token, or one used
    from an address that is not the machine's: 401.
    request.user stays anonymous; request.auth is the MachineToken (with its machine).
    """

    keyword = "Machine"
    realm = "metadata"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        system_id, sep, key = credentials.strip().partition(":")
        if scheme != self.keyword or not sep:
            raise exceptions.AuthenticationFailed(
                "Use Authorization: Machine <system_id>:<token>.")
        try:
            token = token_authenticate(system_id, key, request.META.get("REMOTE_ADDR", ""))
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return AnonymousUser(), token
