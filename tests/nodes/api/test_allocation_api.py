"""API tests for POST /api/v1/machines/allocate/."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import Event, Machine
from tests.factories import MachineFactory, TagFactory, ZoneFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/machines/allocate/"


def ready(**kwargs) -> Machine:
    return MachineFactory(status=NodeStatus.READY, **kwargs)


@pytest.mark.parametrize("client_name", ["user_client", "admin_client"])
def test_allocate_as_user_and_admin(request, client_name):
    client = request.getfixturevalue(client_name)
    ready(hostname="small", cpu_count=4)
    ready(hostname="big", cpu_count=16)
    response = client.post(URL, {"cpu_count": 2, "comment": "ci run"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["hostname"] == "small"
    assert body["status"] == NodeStatus.ALLOCATED
    assert body["status_name"] == "Allocated"
    assert body["owner"] == client.user.username
    machine = Machine.objects.get(hostname="small")
    assert machine.owner == client.user
    event = Event.objects.get(machine=machine)
    assert event.type == "allocate" and "ci run" in event.description


def test_anonymous_gets_401(anon_client):
    ready()
    response = anon_client.post(URL, {}, format="json")
    assert response.status_code == 401
    assert not Machine.objects.filter(status=NodeStatus.ALLOCATED).exists()


def test_allocate_is_not_taken_as_a_system_id(user_client):
    ready(hostname="allocate")
    response = user_client.get(URL)
    assert response.status_code == 405


def test_form_encoded_with_comma_separated_tags(user_client):
    gpu, ssd = TagFactory(name="gpu"), TagFactory(name="ssd")
    ready(hostname="gpu", cpu_count=1, tags=[gpu])
    ready(hostname="both", cpu_count=2, tags=[gpu, ssd])
    response = user_client.post(URL, {"tags": "gpu,ssd"})
    assert response.status_code == 200, response.content
    assert response.json()["hostname"] == "both"


def test_form_encoded_repeated_fields(user_client):
    east, west = ZoneFactory(name="east"), ZoneFactory(name="west")
    ready(hostname="e", cpu_count=1, zone=east)
    ready(hostname="w", cpu_count=2, zone=west)
    ready(hostname="d", cpu_count=3)
    response = user_client.post(URL, {"not_in_zone": ["east", "west"]})
    assert response.status_code == 200, response.content
    assert response.json()["hostname"] == "d"


def test_json_list_constraints(user_client):
    gpu = TagFactory(name="gpu")
    ready(hostname="plain", cpu_count=1)
    ready(hostname="gpu", cpu_count=2, tags=[gpu])
    response = user_client.post(URL, {"not_tags": ["gpu"], "arch": "amd64"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["hostname"] == "plain"


def test_dry_run_returns_machine_without_allocating(user_client):
    machine = ready()
    response = user_client.post(URL, {"dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["system_id"] == machine.system_id
    assert response.json()["status_name"] == "Ready"
    assert response.json()["owner"] is None
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.owner is None
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"zone": "nowhere"}, "zone"),
        ({"not_in_zone": ["nowhere"]}, "not_in_zone"),
        ({"pool": "nowhere"}, "pool"),
        ({"not_in_pool": "nowhere"}, "not_in_pool"),
        ({"tags": "nowhere"}, "tags"),
        ({"not_tags": ["nowhere"]}, "not_tags"),
    ],
)
def test_unknown_names_give_400_keyed_by_field(user_client, body, field):
    machine = ready()
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "nowhere" in response.json()[field][0]
    machine.refresh_from_db()
    assert machine.status == NodeStatus.READY and machine.owner is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cpu_count": -1}, "cpu_count"),
        ({"mem": "1.5"}, "mem"),
        ({"mem": "lots"}, "mem"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"tags": {"a": 1}}, "tags"),
    ],
)
def test_invalid_values_give_400(user_client, body, field):
    ready()
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Machine.objects.filter(status=NodeStatus.ALLOCATED).exists()


def test_no_match_gives_409_with_reason(user_client):
    TagFactory(name="gpu")
    for _ in range(3):
        ready(cpu_count=4)
    response = user_client.post(URL, {"cpu_count": 64, "tags": "gpu"}, format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail.startswith("No Ready machine matches: cpu_count>=64, tags=gpu;")
    assert "none with cpu_count>=64" in detail
