"""/api/v1/machines/{id}/interfaces/{id}/ link operations, and links in what the API reads."""
import pytest

from nodes.choices import NodeStatus
from nodes.models import Event, InterfaceLink, Machine
from nodes.services.links import interface_link_subnet
from tests.factories import (
    InterfaceFactory,
    IPRangeFactory,
    MachineFactory,
    SubnetFactory,
    UserFactory,
)
from tests.nodes.bootresource_factories import deployable_resource
from zones.models import StaticIPAddress

pytestmark = pytest.mark.django_db
OPERATIONS = ["link-subnet", "unlink-subnet", "disconnect", "set-default-gateway"]


@pytest.fixture
def subnet():
    subnet = SubnetFactory(cidr="10.70.0.0/24", gateway_ip="10.70.0.1")
    IPRangeFactory(subnet=subnet)  # dynamic .100-.200
    return subnet


@pytest.fixture
def nic(user_client):
    """An interface of an Allocated machine owned by the user_client's user."""
    machine = MachineFactory(status=NodeStatus.ALLOCATED, owner=user_client.user)
    return InterfaceFactory(machine=machine, name="eth0")


def url(nic, operation: str = "") -> str:
    base = f"/api/v1/machines/{nic.machine.system_id}/interfaces/{nic.pk}/"
    return f"{base}{operation}/" if operation else base


def saved() -> tuple:
    return (list(InterfaceLink.objects.values_list("pk", "mode", "address_id")),
            list(StaticIPAddress.objects.values_list("ip", flat=True)),
            list(Machine.objects.values_list("gateway_link_ipv4_id", flat=True)))


def test_link_static_then_read_it_on_the_interface_and_the_machine(user_client, nic, subnet):
    response = user_client.post(url(nic, "link-subnet"), {
        "mode": "STATIC", "subnet": subnet.pk, "ip_address": "10.70.0.20",
        "default_gateway": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    link = InterfaceLink.objects.get()
    assert body["id"] == nic.pk and body["vlan"] == subnet.vlan_id
    assert body["links"] == [{"id": link.pk, "mode": "static", "ip_address": "10.70.0.20",
                              "subnet": {"id": subnet.pk, "name": "", "cidr": "10.70.0.0/24",
                                         "vlan": subnet.vlan_id, "gateway_ip": "10.70.0.1"}}]
    assert user_client.get(url(nic)).json()["links"] == body["links"]
    assert user_client.get(url(nic).rsplit("/", 2)[0] + "/").json()[0]["links"] == body["links"]
    machine = user_client.get(f"/api/v1/machines/{nic.machine.system_id}/").json()
    assert machine["ip_addresses"] == ["10.70.0.20"]
    assert machine["default_gateways"] == {"ipv4": {"gateway_ip": "10.70.0.1",
                                                    "link_id": link.pk}}
    assert machine["interface_set"][0]["links"] == body["links"]


def test_form_encoded_auto_link_then_unlink(user_client, nic, subnet):
    response = user_client.post(url(nic, "link-subnet"), {"mode": "auto",
                                                          "subnet": subnet.pk})
    assert response.status_code == 200, response.content
    (link,) = response.json()["links"]
    assert (link["mode"], link["ip_address"]) == ("auto", None)
    response = user_client.post(url(nic, "unlink-subnet"), {"id": link["id"]})
    assert response.status_code == 200 and response.json()["links"] == []
    assert not InterfaceLink.objects.exists()


def test_disconnect_and_set_default_gateway(user_client, nic, subnet):
    link = interface_link_subnet(nic, user_client.user, mode="DHCP", subnet=subnet)
    response = user_client.post(url(nic, "set-default-gateway"), {}, format="json")
    assert response.status_code == 200, response.content
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 == link
    response = user_client.post(url(nic, "disconnect"))
    assert response.status_code == 200
    assert (response.json()["links"], response.json()["vlan"]) == ([], None)
    assert Machine.objects.get(pk=nic.machine_id).gateway_link_ipv4 is None


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unauthenticated_is_401(anon_client, nic, operation):
    assert anon_client.post(url(nic, operation), {}, format="json").status_code == 401


@pytest.mark.parametrize("operation", OPERATIONS)
def test_another_users_machine_is_404_and_an_unowned_one_403(user_client, subnet, operation):
    others = InterfaceFactory(machine=MachineFactory(status=NodeStatus.ALLOCATED,
                                                     owner=UserFactory()))
    unowned = InterfaceFactory(machine=MachineFactory(status=NodeStatus.READY))
    body = {"mode": "AUTO", "subnet": subnet.pk, "id": 1, "link_id": None}
    assert user_client.post(url(others, operation), body, format="json").status_code == 404
    response = user_client.post(url(unowned, operation), body, format="json")
    assert response.status_code == 403, response.content
    assert saved() == ([], [], [None, None])


def test_an_interface_of_another_machine_is_404(user_client, nic, subnet):
    stranger = InterfaceFactory(machine=MachineFactory(status=NodeStatus.READY))
    path = f"/api/v1/machines/{nic.machine.system_id}/interfaces/{stranger.pk}/link-subnet/"
    response = user_client.post(path, {"mode": "AUTO", "subnet": subnet.pk}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(("operation", "body", "field"), [
    ("link-subnet", {"mode": "bogus", "subnet": "SUBNET"}, "mode"),
    ("link-subnet", {"mode": " auto", "subnet": "SUBNET"}, "mode"),
    ("link-subnet", {"mode": 3, "subnet": "SUBNET"}, "mode"),
    ("link-subnet", {"subnet": "SUBNET"}, "mode"),
    ("link-subnet", {"mode": "AUTO"}, "subnet"),
    ("link-subnet", {"mode": "AUTO", "subnet": 999999}, "subnet"),
    ("link-subnet", {"mode": "STATIC", "subnet": "SUBNET", "ip_address": "10.70.0.150"},
     "ip_address"),
    ("link-subnet", {"mode": "STATIC", "subnet": "SUBNET", "ip_address": "nope"}, "ip_address"),
    ("link-subnet", {"mode": "DHCP", "subnet": "SUBNET", "default_gateway": True},
     "default_gateway"),
    ("unlink-subnet", {}, "id"),
    ("unlink-subnet", {"id": 999999}, "id"),
    ("unlink-subnet", {"id": 2**70}, "id"),
    ("set-default-gateway", {}, "link_id"),
    ("set-default-gateway", {"link_id": "x"}, "link_id"),
])
def test_bad_input_is_400_and_saves_nothing(user_client, nic, subnet, operation, body, field):
    body = {key: subnet.pk if value == "SUBNET" else value for key, value in body.items()}
    before, events = saved(), Event.objects.count()
    response = user_client.post(url(nic, operation), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert saved() == before and Event.objects.count() == events


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_deployed_machine_is_409(admin_client, subnet, operation):
    nic = InterfaceFactory(machine=MachineFactory(status=NodeStatus.DEPLOYED))
    link = InterfaceLink.objects.create(interface=nic, subnet=subnet, mode="dhcp")
    body = {"mode": "AUTO", "subnet": SubnetFactory(vlan=subnet.vlan).pk, "id": link.pk,
            "link_id": link.pk}
    response = admin_client.post(url(nic, operation), body, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["status_name"] == "Deployed"
    assert "Retry-After" not in response
    assert list(InterfaceLink.objects.values_list("pk", flat=True)) == [link.pk]


def test_deploy_assigns_auto_addresses_and_a_full_subnet_is_409(user_client, nic,
                                                                power_requests):
    deployable_resource()
    tiny = SubnetFactory(cidr="10.71.0.0/30", gateway_ip="10.71.0.1")  # one host address: .2
    interface_link_subnet(nic, user_client.user, mode="AUTO", subnet=tiny)
    second = InterfaceFactory(machine=MachineFactory(status=NodeStatus.ALLOCATED,
                                                     owner=user_client.user))
    interface_link_subnet(second, user_client.user, mode="AUTO", subnet=tiny)
    response = user_client.post(f"/api/v1/machines/{nic.machine.system_id}/deploy/")
    assert response.status_code == 200, response.content
    assert response.json()["ip_addresses"] == ["10.71.0.2"]
    response = user_client.post(f"/api/v1/machines/{second.machine.system_id}/deploy/")
    assert response.status_code == 409
    assert "10.71.0.0/30 has no free IP address" in response.json()["detail"]
    assert Machine.objects.get(pk=second.machine_id).status == NodeStatus.ALLOCATED
