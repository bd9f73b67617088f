"""Region-only environment: secrets generated once into var/ (shared helpers: rack_worker.env)."""
import os
import re
import secrets
import tempfile

import dj_database_url

from rack_worker.env import var_dir


def generated_secret(filename: str, nbytes: int = 48) -> str:
    """Read a secret from var/<filename>, generating it on first use (mode 0600)."""
    path = var_dir() / filename
    if not path.exists():
        # Written to a private temp file and linked into place: of several processes starting
        # at once (gunicorn workers) exactly one creates it, and none reads it half-written.
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{filename}.")
        with os.fdopen(fd, "w") as handle:
            # Hex, not URL-safe base64: a secret starting with "-" would read as an option
            # when passed on a command line (rackd --secret).
            handle.write(secrets.token_hex(nbytes))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return path.read_text().strip()


# libpq waits this long per host before trying the next one of a multi-host DATABASE_URL; its
# default is the kernel's TCP timeout (minutes), which would hang every request on a lost host.
DATABASE_CONNECT_TIMEOUT = 3


def database_settings(url: str, conn_max_age: int) -> dict:
    """Django's DATABASES entry for a database URL, PostgreSQL's multi-host form included.

    postgres://user@h1:5432,h2:5432/maas?target_session_attrs=read-write gives HOST "h1,h2" and
    PORT "5432,5432", which Django passes on to libpq as they are: libpq tries the hosts in
    order and keeps the first that matches target_session_attrs (the Patroni leader).
    """
    scheme, sep, rest = url.partition("://")
    netloc = rest.split("/", 1)[0]
    userinfo, at, hostlist = netloc.rpartition("@")
    hosts = [_host_port(part) for part in hostlist.split(",")] if "," in hostlist else []
    if hosts:
        # dj_database_url reads one host only: parse the URL with the first, then list them all.
        url = f"{scheme}{sep}{userinfo}{at}{hostlist.split(',')[0]}{rest[len(netloc):]}"
    config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    if hosts:
        config["HOST"] = ",".join(host for host, _ in hosts)
        config["PORT"] = ",".join(port for _, port in hosts)
    return config


def _host_port(part: str) -> tuple[str, str]:
    """(host, port) of "host:port", "host" or "[v6]:port"; 5432 when no port is given."""
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<host>[^:]+)(?::(?P<port>\d+))?",
                         part)
    if match is None:
        raise ValueError(f"bad host in DATABASE_URL: {part!r}")
    host = match["v6"] or match["host"]
    return host, match["p6"] or match["port"] or "5432"
