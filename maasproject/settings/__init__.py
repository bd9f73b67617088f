"""Settings package: base settings, with test overrides in maasproject.settings.test."""
from maasproject.settings.base import *  # noqa: F401,F403
