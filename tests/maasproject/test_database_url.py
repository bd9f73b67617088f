"""DATABASE_URL with several PostgreSQL hosts (maasproject.env.database_settings)."""
import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from maasproject.env import database_settings
from tests.processes import free_tcp_port

MULTI = "postgres://maas:s%40cret@10.0.0.1:5433,db2,[fd00::3]:5434/maas?target_session_attrs=read-write"


def test_multi_host_url_lists_hosts_and_ports_for_libpq():
    config = database_settings(MULTI, conn_max_age=60)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"]) == ("10.0.0.1,db2,fd00::3", "5433,5432,5434")
    assert (config["USER"], config["PASSWORD"], config["NAME"]) == ("maas", "s@cret", "maas")
    assert config["OPTIONS"] == {"target_session_attrs": "read-write", "connect_timeout": 3}
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["CONN_MAX_AGE"] == 60


def test_single_host_and_sqlite_urls_are_unchanged_but_for_the_timeout():
    config = database_settings("postgres://u@h1:6000/maas?connect_timeout=10", conn_max_age=0)
    assert (config["HOST"], config["PORT"], config["OPTIONS"]) == (
        "h1", 6000, {"connect_timeout": 10})
    sqlite = database_settings("sqlite:////tmp/maas.sqlite3", conn_max_age=0)
    assert sqlite["NAME"] == "/tmp/maas.sqlite3" and "OPTIONS" not in sqlite


def test_bad_host_is_refused():
    with pytest.raises(ValueError, match="bad host"):
        database_settings("postgres://u@h1:x,h2/maas", conn_max_age=0)


@pytest.mark.django_db
def test_django_connects_past_a_dead_first_host():
    """libpq, through Django's backend, skips a host that refuses and uses the next one."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (CI=true)")
    live = connection.settings_dict
    dead = free_tcp_port()
    url = (f"postgres://{live['USER']}@127.0.0.1:{dead},{live['HOST'] or '127.0.0.1'}:"
           f"{live['PORT'] or 5432}/{live['NAME']}?target_session_attrs=read-write")
    wrapper = DatabaseWrapper({**database_settings(url, 0), "TIME_ZONE": None})
    params = wrapper.get_connection_params()
    with psycopg.connect(**params) as raw:
        assert raw.info.port == int(live["PORT"] or 5432)
        assert raw.execute("SHOW transaction_read_only").fetchone() == ("off",)
