"""The OpenAPI schema generates without a warning, and what the API answers matches it."""
import subprocess
import sys

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from nodes.models import Event
from tests.factories import (
    BlockDeviceFactory,
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    RackControllerFactory,
    ScriptFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    StaticIPAddressFactory,
    TagFactory,
    ZoneFactory,
)
from tests.processes import PROJECT_DIR, process_env


def test_schema_generates_with_no_warning_and_validates(tmp_path):
    """Any drf-spectacular warning or error ("unable to guess serializer"...) fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate",
         "--file", str(tmp_path / "schema.yaml")],
        cwd=PROJECT_DIR, env=process_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert (tmp_path / "schema.yaml").stat().st_size > 0


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def json_schema(schema, components: dict, depth: int = 0):
    """An OpenAPI 3.0 schema as plain JSON Schema: $refs inlined, `nullable` as a null type."""
    assert depth < 30, "recursive schema"
    if isinstance(schema, list):
        return [json_schema(item, components, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return json_schema(components[schema["$ref"].rsplit("/", 1)[1]], components, depth + 1)
    out = {key: json_schema(value, components, depth + 1) for key, value in schema.items()
           if key not in ("nullable", "readOnly", "writeOnly")}
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def check(openapi: dict, response, method: str, template: str) -> None:
    """The response's JSON validates against the schema of its operation and status code."""
    operation = openapi["paths"][template][method]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (
        f"{method.upper()} {template}: {response.status_code} is not documented "
        f"({sorted(documented)}): {response.content[:300]!r}")
    content = documented[str(response.status_code)].get("content", {})
    if not content:
        return
    schema = json_schema(content["application/json"]["schema"],
                         openapi["components"]["schemas"])
    try:
        jsonschema.validate(response.json(), schema)
    except jsonschema.ValidationError as exc:
        raise AssertionError(f"{method.upper()} {template}: {exc.message} at "
                             f"{list(exc.absolute_path)}\n{response.json()}") from exc


@pytest.mark.django_db
def test_machines_with_and_without_owner_match(openapi, admin_client, admin):
    MachineFactory(owner=None)
    owned = MachineFactory(owner=admin, tags=[TagFactory()])
    check(openapi, admin_client.get("/api/v1/machines/"), "get", "/api/v1/machines/")
    check(openapi, admin_client.get(f"/api/v1/machines/{owned.system_id}/"), "get",
          "/api/v1/machines/{system_id}/")


@pytest.mark.django_db
def test_events_without_machine_or_user_match(openapi, admin_client, admin):
    machine = MachineFactory()
    Event.objects.create(machine=None, user=None, type="system", description="no one")
    Event.objects.create(machine=machine, user=admin, type="note", description="someone")
    response = admin_client.get("/api/v1/events/")
    assert {e["system_id"] for e in response.json()["results"]} == {None, machine.system_id}
    check(openapi, response, "get", "/api/v1/events/")


@pytest.mark.django_db
def test_zone_answers_carry_machine_count(openapi, admin_client):
    zone = ZoneFactory()
    MachineFactory(zone=zone)
    check(openapi, admin_client.get("/api/v1/zones/"), "get", "/api/v1/zones/")
    for response, method in (
        (admin_client.get(f"/api/v1/zones/{zone.pk}/"), "get"),
        (admin_client.put(f"/api/v1/zones/{zone.pk}/", {"name": "renamed"}, format="json"),
         "put"),
        (admin_client.patch(f"/api/v1/zones/{zone.pk}/", {"description": "d"}, format="json"),
         "patch"),
    ):
        assert response.json()["machine_count"] == 1, (method, response.json())
        check(openapi, response, method, "/api/v1/zones/{id}/")
    created = admin_client.post("/api/v1/zones/", {"name": "new-zone"}, format="json")
    assert created.json()["machine_count"] == 0
    check(openapi, created, "post", "/api/v1/zones/")


@pytest.mark.django_db
def test_power_types_are_a_list(openapi, admin_client):
    response = admin_client.get("/api/v1/power-types/")
    assert isinstance(response.json(), list)
    check(openapi, response, "get", "/api/v1/power-types/")


@pytest.mark.django_db
def test_results_list_and_detail_match(openapi, admin_client):
    script_set = ScriptSetFactory()
    ScriptResultFactory(script_set=script_set)
    system_id = script_set.machine.system_id
    listed = admin_client.get(f"/api/v1/machines/{system_id}/results/")
    assert isinstance(listed.json(), list)
    check(openapi, listed, "get", "/api/v1/machines/{system_id}/results/")
    detail = admin_client.get(f"/api/v1/machines/{system_id}/results/{script_set.pk}/")
    check(openapi, detail, "get", "/api/v1/machines/{system_id}/results/{key}/")


@pytest.mark.django_db
def test_api_root_matches(openapi, admin_client):
    check(openapi, admin_client.get("/api/v1/"), "get", "/api/v1/")


@pytest.mark.django_db
def test_every_listed_collection_matches(openapi, admin_client, admin):
    """Each GET endpoint of the API root, with rows in every table, answers its schema."""
    machine = MachineFactory(owner=admin, tags=[TagFactory()])
    InterfaceFactory(machine=machine)
    BlockDeviceFactory(machine=machine)
    IPRangeFactory()
    RackControllerFactory()
    StaticIPAddressFactory()
    ScriptFactory()
    Event.objects.create(machine=machine, type="note", description="x")
    for name in admin_client.get("/api/v1/").json():
        template = f"/api/v1/{name}/"
        if name in ("schema", "docs") or "get" not in openapi["paths"].get(template, {}):
            continue
        check(openapi, admin_client.get(template), "get", template)
