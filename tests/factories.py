"""factory_boy factories for region models."""
import ipaddress
import itertools
from datetime import timedelta

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from nodes.choices import NodeStatus
from nodes.models import ApiKey, BlockDevice, Interface, Machine, Tag
from nodes.models.apikey import hash_secret
from zones.models import (
    VLAN,
    DHCPLease,
    Fabric,
    IPRange,
    RackController,
    ResourcePool,
    Subnet,
    Zone,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    name = factory.Sequence(lambda n: f"zone-{n}")


class ResourcePoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourcePool

    name = factory.Sequence(lambda n: f"pool-{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class MachineFactory(factory.django.DjangoModelFactory):
    """A machine; pass status=NodeStatus.X to start it anywhere in the lifecycle."""

    class Meta:
        model = Machine
        skip_postgeneration_save = True

    hostname = factory.Sequence(lambda n: f"machine-{n}")
    cpu_count = 4
    memory = 8192
    status = NodeStatus.NEW

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class InterfaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interface

    machine = factory.SubFactory(MachineFactory)
    name = factory.Sequence(lambda n: f"eth{n}")
    mac_address = factory.Sequence(
        lambda n: f"52:54:00:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
    )


class BlockDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BlockDevice

    machine = factory.SubFactory(MachineFactory)
    name = factory.Sequence(lambda n: f"sd{chr(97 + n % 26)}{n // 26 or ''}")
    size = 500 * 1000**3


class FabricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fabric

    name = factory.Sequence(lambda n: f"fabric-{n}")


class VLANFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VLAN

    fabric = factory.SubFactory(FabricFactory)
    vid = 0


class SubnetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subnet

    vlan = factory.SubFactory(VLANFactory)
    cidr = factory.Sequence(lambda n: f"10.{(n >> 8) & 255}.{n & 255}.0/24")


class IPRangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IPRange

    subnet = factory.SubFactory(SubnetFactory)
    type = "dynamic"
    start_ip = factory.LazyAttribute(lambda r: str(r.subnet.network[100]))
    end_ip = factory.LazyAttribute(lambda r: str(r.subnet.network[200]))


class RackControllerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RackController

    name = factory.Sequence(lambda n: f"rack-{n}")
    system_id = factory.Sequence(lambda n: f"rack{n:04d}")


def make_api_key(user) -> str:
    """Create an API key for `user` and return it in consumer:token:secret form."""
    consumer, token, secret = ApiKey.new_parts()
    ApiKey.objects.create(
        user=user, consumer_key=consumer, token_key=token, secret_hash=hash_secret(secret)
    )
    return f"{consumer}:{token}:{secret}"


class StaticIPAddressFactory(factory.django.DjangoModelFactory):
    """A sticky address in its subnet, below the IPRangeFactory's dynamic range (.100-.200)."""

    class Meta:
        model = "zones.StaticIPAddress"

    subnet = factory.SubFactory(SubnetFactory)
    ip = factory.LazyAttributeSequence(lambda o, n: str(o.subnet.network[10 + n % 80]))
    alloc_type = "sticky"


class ScriptFactory(factory.django.DjangoModelFactory):
    """A user testing script (pass script_type="commissioning" for a commissioning one)."""

    class Meta:
        model = "nodes.Script"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"script-{n}")
    script_type = "testing"
    body = "#!/bin/sh\necho ok\n"


class ScriptSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "nodes.ScriptSet"

    machine = factory.SubFactory(MachineFactory)
    result_type = "commissioning"


class ScriptResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "nodes.ScriptResult"

    script_set = factory.SubFactory(ScriptSetFactory)
    script = None
    script_name = factory.LazyAttributeSequence(
        lambda r, n: r.script.name if r.script is not None else f"result-{n}")


LEASE_NETWORK = ipaddress.ip_network("10.250.0.0/16")
_lease_numbers = itertools.count(1)


def machine_lease(machine, ip: str | None = None) -> str:
    """Lease an address to the machine's first MAC (an interface is made if it has none), as a
    rack would, and return it: metadata calls with the machine's token must come from it."""
    interface = machine.interfaces.order_by("id").first() or InterfaceFactory(machine=machine)
    ip = ip or str(LEASE_NETWORK[next(_lease_numbers) % (LEASE_NETWORK.num_addresses - 2) + 1])
    subnet = (Subnet.objects.filter(cidr=str(LEASE_NETWORK)).first()
              or SubnetFactory(cidr=str(LEASE_NETWORK)))
    DHCPLease.objects.filter(ip=ip, state="active").exclude(mac=interface.mac_address).delete()
    DHCPLease.objects.update_or_create(
        ip=ip, mac=interface.mac_address,
        defaults={"subnet": subnet, "state": "active",
                  "expires": timezone.now() + timedelta(hours=1)})
    return ip


def commissioning_passed(machine):
    """Give `machine` a commissioning script set whose result passed (mark-fixed needs one)."""
    script_set = ScriptSetFactory(machine=machine, result_type="commissioning")
    ScriptResultFactory(script_set=script_set, script_name="10-cpu", status="passed",
                        exit_status=0)
    return machine
