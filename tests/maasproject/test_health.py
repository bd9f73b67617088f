"""GET /healthz: 200 when PostgreSQL and the broker answer, 503 naming the one that does not.

The outages are real: a gunicorn on a PostgreSQL and a Redis of the test's own, each stopped in
turn. A backend that accepts connections and never answers fails its check within the timeout.
"""
import socket
import time

import pytest
from django.db import connection
from django.test import Client, override_settings

from maasproject.health import CHECK_TIMEOUT
from tests.faults.backends import PrivatePostgres, PrivateRedis
from tests.faults.region import health, start_web
from tests.processes import stop, wait_until

PARTS = {"status", "database", "broker"}


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.mark.django_db
def test_healthz_is_200_without_credentials_when_both_backends_answer():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert Client().post("/healthz").status_code == 405


@pytest.mark.django_db
def test_a_broker_that_never_answers_fails_the_check_within_its_timeout(silent_port):
    started = time.monotonic()
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{silent_port}/0"):
        response = Client().get("/healthz")
    assert time.monotonic() - started < CHECK_TIMEOUT + 2
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok",
                               "broker": "unavailable"}


@pytest.mark.django_db
def test_a_database_that_never_answers_fails_the_check_within_its_timeout(silent_port,
                                                                          monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("a connect timeout is PostgreSQL's (SQLite opens a file)")
    # Only the check's own connection reads these: the test's connection is already open.
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", str(silent_port))
    started = time.monotonic()
    response = Client().get("/healthz")
    assert time.monotonic() - started < CHECK_TIMEOUT + 2
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


@pytest.mark.integration
def test_healthz_names_the_backend_that_is_down(tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # the tests' own; not this broker
    postgres, broker = PrivatePostgres(), PrivateRedis(tmp_path)
    web = None
    try:
        postgres.start()
        postgres.create_database()  # /healthz needs no tables: no migration
        broker.start()
        extra = {"DATABASE_URL": postgres.url, "CELERY_BROKER_URL": broker.url,
                 "VAR_DIR": str(tmp_path / "var")}
        web, base = start_web(extra, tmp_path / "gunicorn.log", key=None)
        assert health(base) == (200, {"status": "ok", "database": "ok", "broker": "ok"})

        postgres.stop()
        status, body = health(base)
        assert (status, body) == (503, {"status": "unavailable", "database": "unavailable",
                                        "broker": "ok"})
        assert set(body) == PARTS  # nothing else: no host, port or error text
        postgres.start()
        wait_until(lambda: health(base)[0] == 200, 15, lambda: str(health(base)))

        broker.stop()
        assert health(base) == (503, {"status": "unavailable", "database": "ok",
                                      "broker": "unavailable"})
    finally:
        if web is not None:
            stop(web)
        broker.stop()
        postgres.destroy()
