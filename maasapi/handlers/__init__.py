"""Every MAAS API 2.0 handler, in the order describe/ lists them."""
from maasapi.handlers.account import SSHKeyHandler, SSHKeysHandler
from maasapi.handlers.bootresources import BootResourceHandler, BootResourcesHandler
from maasapi.handlers.controllers import (
    RackControllerHandler,
    RackControllersHandler,
    RegionControllersHandler,
)
from maasapi.handlers.events import EventsHandler
from maasapi.handlers.general import (
    DomainHandler,
    DomainsHandler,
    MaasHandler,
    VersionHandler,
)
from maasapi.handlers.interfaces import InterfaceHandler, InterfacesHandler
from maasapi.handlers.ipranges import IPRangeHandler, IPRangesHandler
from maasapi.handlers.machine import MachineHandler
from maasapi.handlers.machines import MachinesHandler
from maasapi.handlers.networks import (
    FabricHandler,
    FabricsHandler,
    VlanByIdHandler,
    VlanHandler,
    VlansHandler,
)
from maasapi.handlers.subnets import SubnetHandler, SubnetsHandler
from maasapi.handlers.tags import TagHandler, TagsHandler
from maasapi.handlers.users import UserHandler, UsersHandler
from maasapi.handlers.zones import (
    ResourcePoolHandler,
    ResourcePoolsHandler,
    ZoneHandler,
    ZonesHandler,
)

HANDLERS = [VersionHandler, MaasHandler, UsersHandler, UserHandler, ZonesHandler, ZoneHandler,
            ResourcePoolsHandler, ResourcePoolHandler, MachinesHandler, MachineHandler,
            EventsHandler, TagsHandler, TagHandler, FabricsHandler, FabricHandler, VlansHandler,
            VlanHandler, VlanByIdHandler, SubnetsHandler, SubnetHandler, IPRangesHandler,
            IPRangeHandler,
            RackControllersHandler, RackControllerHandler, RegionControllersHandler,
            SSHKeysHandler, SSHKeyHandler, BootResourcesHandler, BootResourceHandler,
            InterfacesHandler, InterfaceHandler, DomainsHandler, DomainHandler]
