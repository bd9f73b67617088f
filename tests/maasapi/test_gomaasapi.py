"""Juju's own MAAS client (gomaasapi, Debian's golang-github-juju-gomaasapi-dev) drives the
region: a small Go program (tests/maasapi/gomaasapi/main.go), built in GOPATH mode from
/usr/share/gocode/src, lists zones and machines, allocates by zone, deploys with user data,
waits for Deployed, releases, waits for Ready, and sees a no-match allocation fail as Juju
expects (NoMatchError). gomaasapi decodes every object into strict Go types, so a wrong JSON
type fails it."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.factories import AdminFactory, make_api_key
from tests.maasapi.sim_stack import FAKE_ID, MAC, TIMEOUT, wait_status
from tests.nodes.bootresource_factories import deployable_resource
from tests.processes import skip_or_fail

maas_client = pytest.importorskip("maas.client", reason="python-libmaas (requirements-dev.txt)")

SOURCE = Path(__file__).parent / "gomaasapi"
GOCODE = Path("/usr/share/gocode")


@pytest.fixture(scope="module")
def gomaasapi_program(tmp_path_factory) -> Path:
    """The Go program, built once (GOPATH mode: no module proxy here)."""
    if shutil.which("go") is None or not (GOCODE / "src/github.com/juju/gomaasapi").is_dir():
        skip_or_fail("golang-go and golang-github-juju-gomaasapi-dev are not installed")
    out = tmp_path_factory.mktemp("gomaasapi")
    env = {**os.environ, "GOPATH": f"{out / 'gopath'}:{GOCODE}", "GO111MODULE": "off",
           "GOCACHE": str(out / "cache"), "GOFLAGS": ""}
    binary = out / "gomaasapi-drive"
    done = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=SOURCE, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return binary


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_gomaasapi_lists_allocates_deploys_and_releases(sim_stack, gomaasapi_program):
    url, logs = sim_stack
    deployable_resource(series="noble")
    key = make_api_key(AdminFactory(username="juju"))
    machine = maas_client.connect(url, apikey=key).machines.create(
        "amd64/generic", [MAC], "fake", {"fake_id": FAKE_ID}, hostname="juju-node")
    wait_status(machine, "Ready", logs)
    done = subprocess.run([str(gomaasapi_program), "default"], capture_output=True, text=True,
                          timeout=TIMEOUT * 3,
                          env={**os.environ, "MAAS_URL": url, "MAAS_KEY": key,
                               "MAAS_SERIES": "noble"})
    steps = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 0, done.stdout + done.stderr
    assert "authenticate-api" in steps["connect"]["capabilities"]
    assert "default" in steps["zones"]["names"] and steps["machines"]["count"] == 1
    assert steps["allocate"] == {"step": "allocate", "system_id": machine.system_id,
                                 "status": "Allocated", "zone": "default"}
    assert steps["deployed"]["system_id"] == machine.system_id
    assert steps["released"]["system_id"] == machine.system_id
    # No machine matches: 409 without Retry-After, which Juju reads as "no match", not retry.
    assert steps["allocate-no-match"]["no_match"] is True, steps["allocate-no-match"]
