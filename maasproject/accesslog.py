"""Gunicorn's access log with routine polling (rack config, heartbeats, health checks) at DEBUG.

`gunicorn --logger-class maasproject.accesslog.AccessLogger` (make run). A rack asks for its
config every second and heartbeats every few seconds, booting machines heartbeat their jobs: at
INFO they would bury every other request. Those answered with success go at DEBUG, everything
else (and any of them that failed) at INFO. WEB_LOG_LEVEL (default INFO) is the access log's
level: DEBUG shows the polling too.
"""
import logging
import os
import re
import traceback

from gunicorn.glogging import Logger

# (method, path) of the requests racks and machines repeat while nothing happens.
ROUTINE = {
    # /healthz: HAProxy asks every second.
    "GET": re.compile(r"^(/api/v1/rack/(config|images)/|/healthz)$"),
    "POST": re.compile(r"^/api/v1/(rack/heartbeat|rack/images/progress|metadata/heartbeat)/$"),
}


def status_code(resp) -> int:
    """The answer's numeric status (gunicorn gives "200 OK" or 200)."""
    status = getattr(resp, "status", None)
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    try:
        return int(status)
    except (TypeError, ValueError):
        return 0


def access_level(method: str, path: str, status: int) -> int:
    """DEBUG for successful routine polling, INFO for every other request."""
    pattern = ROUTINE.get(method)
    routine = pattern is not None and pattern.match(path) and (200 <= status < 300
                                                               or status == 304)
    return logging.DEBUG if routine else logging.INFO


def web_log_level() -> int:
    name = os.environ.get("WEB_LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


class AccessLogger(Logger):
    """Gunicorn's Logger, the access line at the level access_level() gives."""

    def setup(self, cfg):
        super().setup(cfg)
        self.access_log.setLevel(web_log_level())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        level = access_level(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                             status_code(resp))
        if not self.access_log.isEnabledFor(level):
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        try:
            self.access_log.log(level, self.cfg.access_log_format, atoms)
        except Exception:  # noqa: BLE001 - as gunicorn's own access()
            self.error(traceback.format_exc())
