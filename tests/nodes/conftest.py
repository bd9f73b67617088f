"""Fixtures of the nodes tests."""
from tests.nodes.bootimport_fakes import fake_build  # noqa: F401 - a fixture of these tests
