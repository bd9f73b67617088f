"""Test overrides: PostgreSQL and Redis when CI=true, the embedded default otherwise."""
import importlib
import os

from maasproject.settings import base as _base
from rack_worker.env import env_bool

if env_bool("CI"):
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/maas")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    # Importing this module ran maasproject/settings/__init__.py, which loaded base before
    # these defaults existed: load it again so that they apply.
    importlib.reload(_base)

from maasproject.settings.base import *  # noqa: E402,F401,F403
from maasproject.settings.base import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that worker subprocesses in integration tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
