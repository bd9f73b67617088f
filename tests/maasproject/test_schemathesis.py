"""Schemathesis against a live region: every operation of the OpenAPI schema, all checks, a fixed
seed and a bounded budget; no 5xx and no answer that the schema does not describe.

The region is gunicorn on a database of this test's own (created and dropped here), seeded by
tests/maasproject/schemathesis_seed.py so that path parameters name real objects. docs/api.md
says how to run the same thing by hand.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.faults.region import call, manage, prepare_database, start_web
from tests.processes import PROJECT_DIR, child_database_url, process_env, stop

SEED = 20261205
MAX_EXAMPLES = 8
SCHEMA_PATH = "/api/v1/schema/?format=json"

# (path regex, {path parameter: key of the seed's answer}): generated calls on these paths
# address the seeded objects. Users and keys are sacrificial ones, never the run's own.
PATH_PARAMETERS = [
    ("/account/api-keys/", {"token_key": "spare_token"}),
    ("/account/ssh-keys/", {"id": "ssh_key"}),
    ("/events/", {"id": "event"}),
    ("/fabrics/", {"id": "fabric"}),
    ("/ipranges/", {"id": "iprange"}),
    ("/machines/[^/]+/block-devices/", {"system_id": "system_id", "id": "block_device"}),
    ("/machines/[^/]+/interfaces/", {"system_id": "system_id", "id": "interface"}),
    ("/machines/[^/]+/results/",
     {"system_id": "system_id", "key": "result_key", "script_name": "result_name"}),
    ("/machines/", {"system_id": "system_id"}),
    ("/pools/", {"id": "pool"}),
    ("/rack/boot/", {"mac": "mac"}),
    ("/racks/", {"system_id": "rack_system_id"}),
    ("/scripts/", {"name": "script"}),
    ("/static-ips/", {"id": "static_ip"}),
    ("/subnets/", {"id": "subnet"}),
    ("/tags/", {"name": "tag"}),
    ("/users/[^/]+/api-keys/", {"username": "username", "token_key": "victim_token"}),
    ("/users/", {"username": "username"}),
    ("/vlans/", {"id": "vlan"}),
    ("/zones/", {"id": "zone"}),
]


def config_toml(seed: dict, key: str) -> str:
    """schemathesis.toml: the API key and the rack's credentials, and per-path parameters.

    The first matching [[operations]] entry wins, so the more specific paths come first.
    """
    lines = [
        f"seed = {SEED}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[auth.openapi.apiKeyBearer]",
        f"bearer = {json.dumps(key)}",
        "[auth.openapi.rackAuth]",
        f"api_key = {json.dumps(seed['rack_auth'])}",
    ]
    for regex, names in PATH_PARAMETERS:
        values = ", ".join(f'"path.{name}" = {json.dumps(seed[field])}'
                           for name, field in names.items())
        lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex + '{')}",
                  f"parameters = {{ {values} }}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def region_database(tmp_path):
    """A database URL of this test's own: on the session's PostgreSQL server, else SQLite."""
    url = child_database_url()
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'schemathesis.sqlite3'}"
        return
    server, _, name = url.rpartition("/")
    own = f"{name}_schemathesis"[:63]
    admin = psycopg.connect(f"{server}/postgres", autocommit=True)
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{own}"')
        yield f"{server}/{own}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')
        admin.close()


def seed_region(env: dict) -> dict:
    """The seeded objects' path parameters (tests/maasproject/schemathesis_seed.py)."""
    out = manage(env, "shell", "-c",
                 "from tests.maasproject.schemathesis_seed import main; main()")
    return json.loads(out.strip().splitlines()[-1])


def run_schemathesis(base: str, config: Path, report: Path) -> subprocess.CompletedProcess:
    """The schemathesis CLI on the live schema: every operation, every check but one."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR),
               SCHEMATHESIS_HOOKS="tests.maasproject.schemathesis_hooks", NO_COLOR="1")
    return subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config),
         "run", base + SCHEMA_PATH, "--checks", "all",
         # positive_data_acceptance wants every schema-valid request accepted, but validity here
         # also depends on the database: a reference to an object that does not exist, a name
         # already taken, files_done over files_total, a fabric's default VLAN. OpenAPI cannot
         # say these; their 400s are documented, and their status codes and bodies are still
         # checked (status_code_conformance, response_schema_conformance...).
         "--exclude-checks", "positive_data_acceptance",
         "--workers", "2", "--request-timeout", "30",
         "--report", "junit", "--report-junit-path", str(report)],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path, region_database):
    # The filesystem broker and cache under VAR_DIR: the actions' tasks and the rate limits
    # of this region stay in tmp_path, never in a broker that other tests' workers consume.
    extra = {"DATABASE_URL": region_database, "VAR_DIR": str(tmp_path / "var"),
             "CELERY_BROKER_URL": ""}
    key = prepare_database(extra)
    seed = seed_region(process_env(**extra))
    log = tmp_path / "gunicorn.log"
    web, base = start_web(extra, log, key)
    try:
        config = tmp_path / "schemathesis.toml"
        config.write_text(config_toml(seed, key))
        done = run_schemathesis(base, config, tmp_path / "junit.xml")
        report = done.stdout[-20000:] + done.stderr[-5000:]
        assert done.returncode == 0, report
        selected, tested = re.search(r"Selected: (\d+)/(\d+)", report), re.search(
            r"Tested: (\d+)", report)
        assert selected and selected[1] == selected[2] == tested[1], report
        # The run's own key was never a generated call's target: it still works.
        assert call(base, "GET", "/api/v1/users/whoami/", f"Bearer {key}")[0] == 200
    finally:
        stop(web)
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
