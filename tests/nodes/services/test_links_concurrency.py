"""Concurrent deploys on one small subnet: each AUTO link gets its own address, and the deploy
one too many gets the subnet-full conflict with nothing of it kept.

Each thread has its own database connection; the subnet row lock (SELECT ... FOR UPDATE) makes
the assignments queue on PostgreSQL (SQLite's write lock serialises them anyway).
"""
from collections import Counter

import pytest

from nodes.choices import NodeStatus
from nodes.models import Event, InterfaceLink, Machine, ScriptSet
from nodes.services.actions import machine_deploy
from nodes.services.links import interface_link_subnet
from tests.factories import InterfaceFactory, MachineFactory, SubnetFactory, UserFactory
from tests.nodes.bootresource_factories import deployable_resource
from tests.nodes.test_allocation_concurrency import database_checked, run_parallel  # noqa: F401
from zones.models import StaticIPAddress
from zones.services.addresses import SubnetExhausted

FREE = 5  # 10.60.0.0/29: .1 is the gateway, .2-.6 for hosts
MACHINES = FREE + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_deploys_get_distinct_addresses_and_the_last_a_conflict(
        database_checked, power_requests):  # noqa: F811
    deployable_resource()
    subnet = SubnetFactory(cidr="10.60.0.0/29", gateway_ip="10.60.0.1")
    users = [UserFactory() for _ in range(MACHINES)]
    machines = [MachineFactory(status=NodeStatus.ALLOCATED, owner=user, power_type="ipmi")
                for user in users]
    for machine, user in zip(machines, users, strict=True):
        interface_link_subnet(InterfaceFactory(machine=machine), user, mode="AUTO",
                              subnet=subnet)

    results = run_parallel(
        lambda i: machine_deploy(machines[i].system_id, users[i]), MACHINES)

    kinds = Counter(type(result).__name__ for result in results)
    assert kinds == {"Machine": FREE, "SubnetExhausted": 1}, results
    ips = list(InterfaceLink.objects.exclude(address=None).values_list("address__ip", flat=True))
    assert sorted(ips) == [f"10.60.0.{n}" for n in range(2, 2 + FREE)]
    assert StaticIPAddress.objects.count() == FREE
    loser = machines[next(i for i, r in enumerate(results) if isinstance(r, SubnetExhausted))]
    loser = Machine.objects.get(pk=loser.pk)
    assert loser.status == NodeStatus.ALLOCATED
    assert not ScriptSet.objects.filter(machine=loser).exists()
    assert not Event.objects.filter(machine=loser, type__in=["deploy", "ip_assigned"]).exists()
    assert Machine.objects.filter(status=NodeStatus.DEPLOYING).count() == FREE
    assert Event.objects.filter(type="ip_assigned").count() == FREE
