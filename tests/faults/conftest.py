"""Fault tests: a PostgreSQL of the test's own, which a test may stop (never the shared one)."""
import pytest

from tests.faults.backends import PrivatePostgres


@pytest.fixture
def postgres():
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()
