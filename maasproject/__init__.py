"""Region controller project: settings, URLs, Celery app and WSGI entry point."""
from maasproject.celery import app as celery_app

__all__ = ["celery_app"]
