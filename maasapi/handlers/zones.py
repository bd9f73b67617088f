"""zones/, resourcepools/ and their single-object handlers, on the zones services."""
from django.db.models import Q

from maasapi.errors import NotFound
from maasapi.framework import Handler
from zones.models import ResourcePool, Zone
from zones.services import places


def zone_object(zone: Zone) -> dict:
    """A zone as MAAS shows it."""
    return {"id": zone.id, "name": zone.name, "description": zone.description,
            "resource_uri": ZoneHandler.uri(name=zone.name)}


def pool_object(pool: ResourcePool) -> dict:
    """A resource pool as MAAS shows it."""
    return {"id": pool.id, "name": pool.name, "description": pool.description,
            "resource_uri": ResourcePoolHandler.uri(id=pool.id)}


def _fields(params) -> dict:
    return {key: params.text(key) for key in ("name", "description") if key in params}


class ZonesHandler(Handler):
    """Manage physical zones."""

    name = "ZonesHandler"
    path = "zones/"

    def read(self, request, params):
        """List zones."""
        return [zone_object(zone) for zone in Zone.objects.order_by("name")]

    def create(self, request, params):
        """Create a zone (administrators).

        :param name: The name of the zone.
        :type name: String
        :param description: A description of the zone.
        :type description: String
        """
        return zone_object(places.zone_create(request.user, **_fields(params)))


class ZoneHandler(Handler):
    """Manage a physical zone."""

    name = "ZoneHandler"
    path = "zones/{name}/"

    def read(self, request, params, name):
        """Read a zone."""
        return zone_object(_zone(name))

    def update(self, request, params, name):
        """Update a zone (administrators).

        :param name: The new name of the zone.
        :type name: String
        :param description: The new description of the zone.
        :type description: String
        """
        return zone_object(places.zone_update(_zone(name), request.user, **_fields(params)))

    def delete(self, request, params, name):
        """Delete a zone (administrators); the default zone and zones in use are refused."""
        places.zone_delete(_zone(name), request.user)


class ResourcePoolsHandler(Handler):
    """Manage resource pools."""

    name = "ResourcePoolsHandler"
    path = "resourcepools/"

    def read(self, request, params):
        """List resource pools."""
        return [pool_object(pool) for pool in ResourcePool.objects.order_by("name")]

    def create(self, request, params):
        """Create a resource pool (administrators).

        :param name: The name of the resource pool.
        :type name: String
        :param description: A description of the resource pool.
        :type description: String
        """
        return pool_object(places.pool_create(request.user, **_fields(params)))


class ResourcePoolHandler(Handler):
    """Manage a resource pool (by id, or by name as gomaasclient sends it)."""

    name = "ResourcePoolHandler"
    path = "resourcepool/{id}/"

    def read(self, request, params, id):
        """Read a resource pool."""
        return pool_object(_pool(id))

    def update(self, request, params, id):
        """Update a resource pool (administrators).

        :param name: The new name of the resource pool.
        :type name: String
        :param description: The new description of the resource pool.
        :type description: String
        """
        return pool_object(places.pool_update(_pool(id), request.user, **_fields(params)))

    def delete(self, request, params, id):
        """Delete a resource pool (administrators)."""
        places.pool_delete(_pool(id), request.user)


def _zone(name: str) -> Zone:
    zone = Zone.objects.filter(name=name).first()
    if zone is None:
        raise NotFound("No Zone matches the given query.")
    return zone


def _pool(key: str) -> ResourcePool:
    match = Q(name=key) | Q(pk=int(key)) if key.isdigit() else Q(name=key)
    pool = ResourcePool.objects.filter(match).first()
    if pool is None:
        raise NotFound("No ResourcePool matches the given query.")
    return pool
