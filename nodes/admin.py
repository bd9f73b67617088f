"""Django admin: machines, hardware, tags, events, API keys (secrets hidden), scripts, results."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from maasproject.errors import NotPermitted
from maasproject.permissions import is_admin
from nodes.admin_system_id import SystemIdAdminMixin, recent_events_html
from nodes.models import (
    ApiKey,
    BlockDevice,
    Event,
    Interface,
    InterfaceLink,
    Machine,
    Script,
    ScriptResult,
    ScriptSet,
    SSHKey,
    Tag,
)
from nodes.models.hardware import normalise_mac
from nodes.scripts.metadata import parse_script_metadata
from nodes.services import accounts, actions, machines
from nodes.services import scripts as script_services
from nodes.services.action_registry import ACTION_SERVICES
from nodes.services.errors import ActionNotAllowed, ScriptProtected

# Fields changed only by the lifecycle services, shown read-only.
MACHINE_READONLY = (
    "system_id", "status", "previous_status", "status_expires", "error_description", "owner",
    "power_state", "power_state_updated", "locked", "netboot", "created", "updated",
    # Power settings are validated against the driver schema and hold write-only secrets:
    # they are set through the API, which the admin form cannot mirror safely.
    "power_type", "bmc",
)
# Editable fields, all written through machines.machine_create / machine_update.
MACHINE_EDITABLE = (
    "hostname", "description", "architecture", "cpu_count", "cpu_speed", "memory",
    "osystem", "distro_series", "zone", "pool",
)
SCRIPT_FORM_FIELDS = ("name", "title", "description", "tags", "script_type", "hardware_type",
                      "parallel", "timeout", "destructive", "parameters", "body")


class ReadOnlyInline(admin.TabularInline):
    """Hardware is reported by commissioning or the API; the admin only shows it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class InterfaceInline(ReadOnlyInline):
    model = Interface
    fields = ("name", "type", "mac_address", "vlan", "enabled", "link_speed", "addresses")
    readonly_fields = ("addresses",)

    @admin.display(description="links")
    def addresses(self, interface: Interface) -> str:
        """Each link: its mode, address (AUTO's once deployed) and subnet."""
        links = interface.links.select_related("address", "subnet")
        return ", ".join(
            f"{link.mode}: {link.address.ip if link.address else '-'}"
            f" ({link.subnet.cidr if link.subnet else 'no subnet'})" for link in links) or "-"


class InterfaceLinkInline(ReadOnlyInline):
    """Links change through their services (the API), which check the machine's status."""

    model = InterfaceLink
    fields = ("mode", "subnet", "address")


class BlockDeviceInline(ReadOnlyInline):
    model = BlockDevice
    fields = ("name", "type", "size", "model", "serial", "id_path")


def machine_action(name: str, service):
    """An admin action that runs a lifecycle service on each selected machine."""
    label = name.replace("-", " ").capitalize()

    def run(modeladmin, request, queryset) -> None:
        done = []
        for machine in queryset:
            try:
                service(machine.system_id, request.user)
            except (ActionNotAllowed, NotPermitted) as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                done.append(machine.hostname)
        if done:
            modeladmin.message_user(request, f"{label}: {', '.join(done)}", messages.SUCCESS)

    run.__name__ = f"action_{name.replace('-', '_')}"
    return admin.action(description=f"{label} selected machines")(run)


@admin.register(Machine)
class MachineAdmin(SystemIdAdminMixin, admin.ModelAdmin):
    """Machines by system_id: descriptive fields editable, lifecycle via actions, power secrets
    hidden, the latest events shown."""

    list_display = (
        "hostname", "system_id", "status_name", "owner", "zone", "pool", "power_state", "locked",
    )
    list_filter = ("status", "zone", "pool", "power_state", "power_type", "locked", "tags")
    search_fields = ("hostname", "system_id", "interfaces__mac_address")
    list_select_related = ("owner", "zone", "pool")
    fields = MACHINE_EDITABLE + ("tags",) + MACHINE_READONLY + ("recent_events",)
    readonly_fields = MACHINE_READONLY + ("recent_events",)
    autocomplete_fields = ("tags",)
    inlines = (InterfaceInline, BlockDeviceInline)
    # The registry's admin actions (admin=True), in table order.
    actions = tuple(
        machine_action(name, entry.service)
        for name, entry in ACTION_SERVICES.items() if entry.admin
    )

    @admin.display(description="status", ordering="status")
    def status_name(self, obj: Machine) -> str:
        return obj.status_name

    @admin.display(description="events")
    def recent_events(self, obj: Machine) -> str:
        return recent_events_html(obj)

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        try:
            mac = normalise_mac(search_term)
        except ValidationError:
            return results, duplicates
        return results | queryset.filter(interfaces__mac_address=mac), True

    def has_add_permission(self, request) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_admin(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_admin(request.user)

    def save_model(self, request, obj, form, change) -> None:
        data = {name: form.cleaned_data[name] for name in MACHINE_EDITABLE}
        tag_names = [tag.name for tag in form.cleaned_data.get("tags", [])]
        if change:
            machines.machine_update(obj.system_id, request.user, tag_names=tag_names, **data)
            return
        created = machines.machine_create(request.user, tag_names=tag_names, **data)
        obj.pk, obj.system_id = created.pk, created.system_id

    def save_related(self, request, form, formsets, change) -> None:
        """Tags were saved by the service; the (read-only) inlines save nothing."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj) -> None:
        actions.machine_delete(obj.system_id, request.user)

    def delete_queryset(self, request, queryset) -> None:
        for machine in queryset:
            try:
                actions.machine_delete(machine.system_id, request.user)
            except (ActionNotAllowed, NotPermitted) as exc:
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(Interface)
class InterfaceAdmin(admin.ModelAdmin):
    list_display = ("name", "mac_address", "machine", "type", "vlan", "enabled", "link_speed")
    list_filter = ("type", "enabled")
    search_fields = ("name", "mac_address", "machine__hostname", "machine__system_id")
    list_select_related = ("machine", "vlan")
    raw_id_fields = ("machine",)
    inlines = (InterfaceLinkInline,)


@admin.register(BlockDevice)
class BlockDeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "machine", "type", "size", "model", "serial")
    list_filter = ("type",)
    search_fields = ("name", "serial", "model", "machine__hostname", "machine__system_id")
    list_select_related = ("machine",)
    raw_id_fields = ("machine",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "comment", "kernel_opts", "created")
    search_fields = ("name", "comment")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added or changed here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only, never deleted from the admin."""

    list_display = ("created", "level", "type", "hostname", "user", "description")
    list_filter = ("level", "type")
    search_fields = ("hostname", "type", "description", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """API keys: made by the API or `manage.py apikey`; here only listed and revoked."""

    list_display = ("token_key", "consumer_key", "user", "name", "created", "last_used")
    search_fields = ("token_key", "consumer_key", "name", "user__username")
    list_select_related = ("user",)
    fields = ("user", "name", "consumer_key", "token_key", "created", "last_used")
    exclude = ("secret_hash",)

    def delete_model(self, request, obj) -> None:
        accounts.apikey_revoke(obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for key in queryset.select_related("user"):
            accounts.apikey_revoke(key, actor=request.user)


class SSHKeyAdminForm(forms.ModelForm):
    class Meta:
        model = SSHKey
        fields = ("user", "key")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("user") and cleaned.get("key"):
            try:
                cleaned["key"] = accounts.sshkey_check(cleaned["user"], cleaned["key"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(SSHKey)
class SSHKeyAdmin(admin.ModelAdmin):
    """SSH keys: added (validated) and deleted through the account services; never edited."""

    form = SSHKeyAdminForm
    list_display = ("user", "key_type", "comment", "fingerprint", "created")
    search_fields = ("user__username", "key")
    list_select_related = ("user",)
    readonly_fields = ("created",)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None  # the add form only

    def save_model(self, request, obj, form, change) -> None:
        obj.pk = accounts.sshkey_create(obj.user, obj.key, actor=request.user).pk

    def delete_model(self, request, obj) -> None:
        accounts.sshkey_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for key in queryset.select_related("user"):
            accounts.sshkey_delete(key, actor=request.user)


class ScriptAdminForm(forms.ModelForm):
    """Checks the body's metadata block, so that bad YAML is a form error, not a crash."""

    class Meta:
        model = Script
        fields = SCRIPT_FORM_FIELDS

    def clean(self):
        cleaned = super().clean()
        try:
            parse_script_metadata(cleaned.get("body") or "")
        except ValidationError as exc:
            self.add_error("body", exc.messages)
        return cleaned


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    """Scripts: user scripts written through the script services; built-ins read-only."""

    form = ScriptAdminForm
    list_display = ("name", "title", "script_type", "hardware_type", "parallel", "timeout",
                    "default", "updated")
    list_filter = ("script_type", "hardware_type", "default")
    search_fields = ("name", "title", "description")
    fields = SCRIPT_FORM_FIELDS + ("default", "created", "updated")
    readonly_fields = ("default", "created", "updated")

    def has_add_permission(self, request) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_admin(request.user) and not (obj is not None and obj.default)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_admin(request.user) and not (obj is not None and obj.default)

    def save_model(self, request, obj, form, change) -> None:
        # Only what the admin set is explicit (changed, or not the default on add): the rest
        # comes from the body's metadata.
        cleaned = form.cleaned_data
        if change:
            data = {name: cleaned[name] for name in form.changed_data}
            saved = script_services.script_update(request.user, form.initial["name"], **data)
        else:
            data = {name: value for name, value in cleaned.items()
                    if value != Script._meta.get_field(name).get_default()}
            data["body"] = cleaned["body"]
            saved = script_services.script_create(request.user, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj) -> None:
        script_services.script_delete(request.user, obj.name)

    def delete_queryset(self, request, queryset) -> None:
        for script in queryset:
            try:
                script_services.script_delete(request.user, script.name)
            except (ScriptProtected, NotPermitted) as exc:
                self.message_user(request, str(exc), messages.ERROR)


class ScriptResultInline(ReadOnlyInline):
    model = ScriptResult
    fields = ("script_name", "status", "exit_status", "started", "ended", "runtime",
              "output_text")
    readonly_fields = ("output_text",)

    @admin.display(description="output (stdout and stderr)")
    def output_text(self, obj: ScriptResult) -> str:
        text = bytes(obj.output or b"").decode("utf-8", errors="replace")
        return text if len(text) <= 10000 else text[:10000] + "\n[... truncated]"


@admin.register(ScriptSet)
class ScriptSetAdmin(ReadOnlyAdmin):
    """A machine's script runs with their results (read-only)."""

    list_display = ("id", "machine", "result_type", "created", "last_ping", "finished")
    list_filter = ("result_type",)
    search_fields = ("machine__hostname", "machine__system_id")
    list_select_related = ("machine",)
    fields = ("machine", "result_type", "options", "created", "last_ping", "finished")
    inlines = (ScriptResultInline,)
