"""The OpenAPI schema generates without a warning, and what the API answers matches it."""
import subprocess
import sys

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from maasproject.api.schema import NAME_PATTERN
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


def operations(openapi: dict):
    """(method, path, operation) of every operation of the schema."""
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method.upper(), path, operation


def test_every_operation_documents_its_error_answers(openapi):
    """The middleware and the exception handler can answer any API view with these."""
    for method, path, operation in operations(openapi):
        documented = set(operation["responses"])
        expected = {"400", "401", "403", "503"}
        expected |= {"404"} if "{" in path else set()
        expected |= {"409"} if method in ("POST", "PUT", "PATCH", "DELETE") else set()
        expected |= {"413"} if method in ("POST", "PUT", "PATCH") else set()
        assert expected <= documented, (method, path, sorted(expected - documented))
        error = operation["responses"]["503"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}, (method, path)


def test_query_parameters_say_what_the_api_accepts(openapi):
    """Empty is as if not given; control characters are refused; limit >= 1, offset >= 0."""
    machines = {p["name"]: p for p in openapi["paths"]["/api/v1/machines/"]["get"]["parameters"]}
    assert machines["limit"]["schema"]["minimum"] == 1
    assert machines["offset"]["schema"]["minimum"] == 0
    assert machines["hostname"]["schema"]["pattern"].startswith("^[^\\u0000-\\u001f")
    for method, path, operation in operations(openapi):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                assert parameter["allowEmptyValue"] is True, (method, path, parameter)


@pytest.mark.django_db
def test_empty_query_parameters_are_not_given(admin_client):
    MachineFactory()
    assert admin_client.get("/api/v1/machines/?limit=&offset=&hostname=").json()["count"] == 1
    assert admin_client.get("/api/v1/events/?before=&after=").status_code == 200


def test_name_and_text_fields_carry_their_pattern(openapi):
    schemas = openapi["components"]["schemas"]
    assert schemas["Zone"]["properties"]["name"]["pattern"] == NAME_PATTERN
    # A blank-able name: the pattern matches "" too, so no oneOf with an empty string.
    model = schemas["BlockDevice"]["properties"]["model"]
    assert "oneOf" not in model and "pattern" in model, model
    assert "\\u0009" not in schemas["Zone"]["properties"]["description"]["pattern"]


@pytest.mark.django_db
def test_machine_patch_answers_the_machine(openapi, admin_client):
    """PATCH answered zone and pool as objects while the schema said strings."""
    machine = MachineFactory(zone=ZoneFactory(name="z1"))
    response = admin_client.patch(f"/api/v1/machines/{machine.system_id}/",
                                  {"description": "d"}, format="json")
    assert response.json()["zone"]["name"] == "z1"
    check(openapi, response, "patch", "/api/v1/machines/{system_id}/")


@pytest.mark.django_db
def test_tag_writes_answer_machine_count(openapi, admin_client):
    created = admin_client.post("/api/v1/tags/", {"name": "gpu"}, format="json")
    assert created.json()["machine_count"] == 0
    check(openapi, created, "post", "/api/v1/tags/")
    MachineFactory(tags=[TagFactory(name="gpu")])
    updated = admin_client.patch("/api/v1/tags/gpu/", {"comment": "c"}, format="json")
    assert updated.json()["machine_count"] == 1
    check(openapi, updated, "patch", "/api/v1/tags/{name}/")


@pytest.mark.django_db
def test_api_keys_of_no_such_user_is_a_documented_404(openapi, admin_client):
    for method, response in (
            ("get", admin_client.get("/api/v1/account/api-keys/?username=nobody")),
            ("post", admin_client.post("/api/v1/account/api-keys/?username=nobody", {},
                                       format="json"))):
        assert response.status_code == 404, response.content
        check(openapi, response, method, "/api/v1/account/api-keys/")


@pytest.mark.django_db
def test_unknown_api_url_is_a_json_404(client, admin_client):
    response = admin_client.get("/api/v1/boot-resources/not-a-number/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
