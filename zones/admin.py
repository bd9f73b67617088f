"""Django admin for zones models; writes go through the zones services (no secrets here)."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from maasproject.errors import InUseError
from zones.models import (
    VLAN,
    DHCPLease,
    Fabric,
    IPRange,
    RackController,
    ResourcePool,
    StaticIPAddress,
    Subnet,
    Zone,
)
from zones.models.place import DEFAULT_NAME
from zones.services import addresses, networks, places, racks, validation


class RuleForm(forms.ModelForm):
    """A model form that also applies the service rule for its model."""

    rule = None

    def _post_clean(self):
        super()._post_clean()
        if self.errors or type(self).rule is None:
            return
        try:
            type(self).rule(self.instance)
            self.instance.validate_unique()
        except ValidationError as exc:
            self._update_errors(exc)


class ServiceAdmin(admin.ModelAdmin):
    """Saves and deletes through services; only superusers write."""

    rule = None
    create_service = None
    update_service = None
    delete_service = None
    field_map: dict[str, str] = {}

    def get_form(self, request, obj=None, **kwargs):
        rule = type(self).rule
        form = type("Form", (RuleForm,), {"rule": staticmethod(rule) if rule else None})
        return super().get_form(request, obj, form=form, **kwargs)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk deletes would bypass the services
        return actions

    def _fields(self, form, change: bool) -> dict:
        names = form.changed_data if change else form.cleaned_data
        return {self.field_map.get(n, n): form.cleaned_data[n] for n in names
                if n in form.cleaned_data}

    def save_model(self, request, obj, form, change):
        if change:
            saved = type(self).update_service(obj, request.user, **self._fields(form, True))
        else:
            saved = type(self).create_service(request.user, **self._fields(form, False))
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        type(self).delete_service(obj, request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (InUseError, ValidationError) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))


class NamedGroupAdmin(ServiceAdmin):
    """Zones and pools: the default one cannot be renamed or deleted."""

    list_display = ["name", "description", "created", "updated"]
    search_fields = ["name", "description"]
    readonly_fields = ["created", "updated"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + ["name"] if obj is not None and obj.name == DEFAULT_NAME else fields

    def has_delete_permission(self, request, obj=None):
        default = obj is not None and obj.name == DEFAULT_NAME
        return super().has_delete_permission(request, obj) and not default


@admin.register(Zone)
class ZoneAdmin(NamedGroupAdmin):
    create_service = staticmethod(places.zone_create)
    update_service = staticmethod(places.zone_update)
    delete_service = staticmethod(places.zone_delete)


@admin.register(ResourcePool)
class ResourcePoolAdmin(NamedGroupAdmin):
    create_service = staticmethod(places.pool_create)
    update_service = staticmethod(places.pool_update)
    delete_service = staticmethod(places.pool_delete)


@admin.register(Fabric)
class FabricAdmin(ServiceAdmin):
    list_display = ["name", "description", "created"]
    search_fields = ["name", "description"]
    readonly_fields = ["created"]
    create_service = staticmethod(networks.fabric_create)
    update_service = staticmethod(networks.fabric_update)
    delete_service = staticmethod(networks.fabric_delete)


@admin.register(VLAN)
class VLANAdmin(ServiceAdmin):
    list_display = ["__str__", "fabric", "vid", "name", "mtu", "dhcp_on", "primary_rack",
                    "secondary_rack", "relay_vlan"]
    list_filter = ["fabric", "dhcp_on"]
    search_fields = ["name", "fabric__name"]
    list_select_related = ["fabric", "primary_rack", "secondary_rack", "relay_vlan__fabric"]
    rule = staticmethod(validation.check_vlan)
    create_service = staticmethod(networks.vlan_create)
    update_service = staticmethod(networks.vlan_update)
    delete_service = staticmethod(networks.vlan_delete)


@admin.register(Subnet)
class SubnetAdmin(ServiceAdmin):
    list_display = ["cidr", "name", "vlan", "gateway_ip", "managed", "allow_enlistment",
                    "bios_boot_loader"]
    list_filter = ["managed", "allow_enlistment", "bios_boot_loader", "vlan__fabric"]
    search_fields = ["cidr", "name", "gateway_ip"]
    list_select_related = ["vlan__fabric"]
    rule = staticmethod(validation.check_subnet)
    create_service = staticmethod(networks.subnet_create)
    update_service = staticmethod(networks.subnet_update)
    delete_service = staticmethod(networks.subnet_delete)


@admin.register(IPRange)
class IPRangeAdmin(ServiceAdmin):
    list_display = ["subnet", "type", "start_ip", "end_ip", "comment"]
    list_filter = ["type", "subnet"]
    search_fields = ["start_ip", "end_ip", "comment", "subnet__cidr"]
    list_select_related = ["subnet"]
    rule = staticmethod(validation.check_iprange)
    create_service = staticmethod(addresses.iprange_create)
    update_service = staticmethod(addresses.iprange_update)
    delete_service = staticmethod(addresses.iprange_delete)


@admin.register(StaticIPAddress)
class StaticIPAddressAdmin(ServiceAdmin):
    list_display = ["ip", "subnet", "alloc_type", "interface", "user", "created"]
    list_filter = ["alloc_type", "subnet"]
    search_fields = ["ip", "user__username", "interface__machine__hostname"]
    list_select_related = ["subnet", "interface", "user"]
    raw_id_fields = ["interface", "user"]
    readonly_fields = ["created"]
    field_map = {"user": "owner"}
    rule = staticmethod(validation.check_static_ip)
    create_service = staticmethod(addresses.static_ip_create)
    update_service = staticmethod(addresses.static_ip_update)
    delete_service = staticmethod(addresses.static_ip_delete)


@admin.register(RackController)
class RackControllerAdmin(ServiceAdmin):
    """Racks register and heartbeat themselves; admins only attach subnets or delete."""

    list_display = ["name", "system_id", "status", "version", "last_heartbeat"]
    list_filter = ["status"]
    search_fields = ["name", "system_id"]
    readonly_fields = ["name", "system_id", "status", "version", "last_heartbeat", "interfaces",
                       "services", "created"]
    exclude = ["token_hash"]
    filter_horizontal = ["subnets"]
    delete_service = staticmethod(racks.rack_delete)

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing to save here: every own field is read only."""

    def save_related(self, request, form, formsets, change):
        racks.rack_set_subnets(form.instance, request.user, list(form.cleaned_data["subnets"]))


@admin.register(DHCPLease)
class DHCPLeaseAdmin(admin.ModelAdmin):
    """DHCP leases as the racks report them (read-only)."""

    list_display = ["ip", "mac", "hostname", "state", "expires", "rack", "subnet"]
    list_filter = ["state", "rack"]
    search_fields = ["ip", "mac", "hostname"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
