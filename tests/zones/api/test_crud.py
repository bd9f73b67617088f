"""Every zones endpoint: reads for users and admins, writes for admins only, 401 anonymous."""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from nodes.models import Event
from tests.factories import (
    FabricFactory,
    IPRangeFactory,
    ResourcePoolFactory,
    StaticIPAddressFactory,
    SubnetFactory,
    VLANFactory,
    ZoneFactory,
)
from zones.models import VLAN, Fabric, IPRange, ResourcePool, StaticIPAddress, Subnet, Zone

pytestmark = pytest.mark.django_db


@dataclass
class Spec:
    url: str
    model: Any
    kind: str
    make: Callable[[Any], Any]
    create: Callable[[], dict]
    update: dict = field(default_factory=dict)


def _iprange_payload() -> dict:
    subnet = SubnetFactory(cidr="172.16.5.0/24")
    return {"subnet": subnet.id, "type": "reserved", "start_ip": "172.16.5.10",
            "end_ip": "172.16.5.20", "comment": "switches"}


SPECS = [
    Spec("zones", Zone, "zone", lambda u: ZoneFactory(),
         lambda: {"name": "zone-new", "description": "room 2"}, {"description": "room 3"}),
    Spec("pools", ResourcePool, "pool", lambda u: ResourcePoolFactory(),
         lambda: {"name": "pool-new"}, {"description": "team A"}),
    Spec("fabrics", Fabric, "fabric", lambda u: FabricFactory(),
         lambda: {"name": "fabric-new"}, {"description": "core"}),
    Spec("vlans", VLAN, "vlan", lambda u: VLANFactory(vid=10),
         lambda: {"fabric": FabricFactory().id, "vid": 20, "name": "storage"}, {"mtu": 9000}),
    Spec("subnets", Subnet, "subnet", lambda u: SubnetFactory(),
         lambda: {"vlan": VLANFactory().id, "cidr": "192.168.50.0/24",
                  "gateway_ip": "192.168.50.1", "dns_servers": ["8.8.8.8"]},
         {"name": "renamed"}),
    Spec("ipranges", IPRange, "iprange", lambda u: IPRangeFactory(), _iprange_payload,
         {"comment": "changed"}),
    Spec("static-ips", StaticIPAddress, "static_ip", lambda u: StaticIPAddressFactory(user=u),
         lambda: {"ip": "10.200.0.5", "subnet": SubnetFactory(cidr="10.200.0.0/24").id},
         {"alloc_type": "user_reserved"}),
]
IDS = [spec.url for spec in SPECS]


def _url(spec: Spec, pk=None) -> str:
    return f"/api/v1/{spec.url}/" + (f"{pk}/" if pk is not None else "")


@pytest.fixture(params=["user_client", "admin_client"])
def reader(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_list_is_paged_for_users_and_admins(spec, reader):
    obj = spec.make(reader.user)
    response = reader.get(_url(spec), {"limit": 50})
    assert response.status_code == 200
    assert "count" in response.data
    assert obj.pk in [row["id"] for row in response.data["results"]]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_retrieve_for_users_and_admins(spec, reader):
    obj = spec.make(reader.user)
    response = reader.get(_url(spec, obj.pk))
    assert response.status_code == 200
    assert response.data["id"] == obj.pk


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_admin_creates_and_an_event_is_written(spec, admin_client):
    payload = spec.create()
    before = spec.model.objects.count()
    response = admin_client.post(_url(spec), payload, format="json")
    assert response.status_code == 201, response.data
    assert spec.model.objects.count() == before + 1
    assert spec.model.objects.filter(pk=response.data["id"]).exists()
    assert Event.objects.filter(type=f"{spec.kind}_created", user=admin_client.user).exists()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_admin_updates(spec, admin_client):
    obj = spec.make(None)
    response = admin_client.patch(_url(spec, obj.pk), spec.update, format="json")
    assert response.status_code == 200, response.data
    for name, value in spec.update.items():
        assert response.data[name] == value
        assert getattr(spec.model.objects.get(pk=obj.pk), name) == value
    assert Event.objects.filter(type=f"{spec.kind}_updated").exists()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_admin_deletes(spec, admin_client):
    obj = spec.make(None)
    response = admin_client.delete(_url(spec, obj.pk))
    assert response.status_code == 204
    assert not spec.model.objects.filter(pk=obj.pk).exists()
    assert Event.objects.filter(type=f"{spec.kind}_deleted").exists()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_user_writes_are_forbidden(spec, user_client):
    obj = spec.make(user_client.user)
    payload = spec.create()
    before = spec.model.objects.count()
    assert user_client.post(_url(spec), payload, format="json").status_code == 403
    assert user_client.patch(_url(spec, obj.pk), spec.update, format="json").status_code == 403
    assert user_client.delete(_url(spec, obj.pk)).status_code == 403
    assert spec.model.objects.count() == before


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_anonymous_gets_401(spec, anon_client):
    obj = spec.make(None)
    assert anon_client.get(_url(spec)).status_code == 401
    assert anon_client.get(_url(spec, obj.pk)).status_code == 401
    assert anon_client.post(_url(spec), {}, format="json").status_code == 401
    assert anon_client.delete(_url(spec, obj.pk)).status_code == 401
    assert spec.model.objects.filter(pk=obj.pk).exists()


def test_paging_limit_and_offset(admin_client):
    ZoneFactory.create_batch(3)
    response = admin_client.get("/api/v1/zones/", {"limit": 2})
    assert response.data["count"] == 4  # with `default`
    assert len(response.data["results"]) == 2
    assert response.data["next"]
