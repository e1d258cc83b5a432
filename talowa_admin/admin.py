"""Admin for the audit trail (read-only) and the system settings (one row)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from talowa_admin import services
from talowa_admin.models import AuditEvent, SystemSettings


class ReadOnlyAdmin(admin.ModelAdmin):
    """Job records and logs: visible to those allowed, changed by nobody."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "source_address",
    )
    list_filter = ("action", "created_at", "target_type")
    search_fields = ("actor_label", "action", "target_id")
    date_hierarchy = "created_at"
    list_select_related = ()
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    show_full_result_count = False


@admin.register(SystemSettings)
class SystemSettingsAdmin(admin.ModelAdmin):
    fields = (
        "default_backup_interval",
        "default_retention_periods",
        "enable_automatic_cleanup",
        "max_backups_per_user",
        "max_storage_per_user",
        "updated_at",
        "updated_by",
    )
    readonly_fields = ("updated_at", "updated_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        SystemSettings.load()
        url = reverse("admin:talowa_admin_systemsettings_change", args=[1])
        return HttpResponseRedirect(url)

    def save_model(self, request, obj, form, change) -> None:
        services.configure_system_settings(
            actor=request.user,
            request=request,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )
