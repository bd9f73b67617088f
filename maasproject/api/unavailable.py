"""A backend down (PostgreSQL, the broker) is a JSON 503 with Retry-After, never an HTML 500.

The DRF exception handler answers API views with unavailable_response; the middleware answers
any other view (the admin, web pages) the same way, so no client sees Django's HTML 500.
"""
from django.http import JsonResponse
from rest_framework import status
from rest_framework.response import Response

from maasproject.backends import unavailable_backend

RETRY_AFTER_SECONDS = 5
DETAILS = {"database": "Region database unavailable; retry shortly.",
           "broker": "Message broker unavailable; retry shortly."}


def unavailable_response(exc: BaseException) -> Response | None:
    """A DRF 503 with Retry-After when exc means a backend is down, else None."""
    backend = unavailable_backend(exc)
    if backend is None:
        return None
    return Response({"detail": DETAILS[backend]}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class BackendUnavailableMiddleware:
    """Answer a view's backend error (outside DRF) with the same JSON 503 and Retry-After."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        backend = unavailable_backend(exception)
        if backend is None:
            return None
        response = JsonResponse({"detail": DETAILS[backend]},
                                status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
