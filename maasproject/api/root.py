"""The API root, GET /api/v1/: every operator endpoint without parameters, name -> absolute URL."""
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "/api/v1/"
# The racks' and the booting machines' APIs take their own credentials, not an API key.
OTHER_CLIENTS = ("rack/", "metadata/")


def endpoint_names(patterns=None, groups: int = 0) -> set[str]:
    """URL names (outside namespaces) whose pattern, with its parents', takes no parameter."""
    names: set[str] = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        depth = groups + entry.pattern.regex.groups
        if isinstance(entry, URLResolver) and not entry.namespace:  # admin: not the API
            names |= endpoint_names(entry.url_patterns, depth)
        elif isinstance(entry, URLPattern) and entry.name and depth == 0:
            names.add(entry.name)
    return names


def api_endpoints() -> dict[str, str]:
    """{"machines": "/api/v1/machines/", ...}: paths under /api/v1/, sorted by name."""
    found = {}
    for name in endpoint_names():
        path = reverse(name)
        rest = path[len(API_PREFIX):]
        if path.startswith(API_PREFIX) and rest and not rest.startswith(OTHER_CLIENTS):
            found[rest.strip("/")] = path
    return dict(sorted(found.items()))


class ApiRootView(APIView):
    """GET /api/v1/: the endpoints of this API (authenticated like every endpoint)."""

    @extend_schema(responses={200: {"type": "object",
                                    "additionalProperties": {"type": "string", "format": "uri"}}},
                   summary="Endpoints of the API: name -> absolute URL")
    def get(self, request):
        return Response({name: request.build_absolute_uri(path)
                         for name, path in api_endpoints().items()})
