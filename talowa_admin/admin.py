"""Admin for the audit trail (read-only) and the system settings (one row)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from retention.exceptions import InvalidRetentionPolicy
from retention.forms import add_days_fields, apply_policy_errors, periods_from
from retention.services import validate_periods
from retention.types import RETENTION_TYPES
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


class SystemSettingsForm(forms.ModelForm):
    """The settings, with the global retention default as one field per type."""

    class Meta:
        model = SystemSettings
        fields = (
            "default_backup_interval",
            "enable_automatic_cleanup",
            "max_backups_per_user",
            "max_storage_per_user",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_days_fields(
            self, required=True, initial=self.instance.default_retention_periods or {}
        )

    def clean(self):
        cleaned = super().clean()
        periods = periods_from(cleaned)
        if None in periods.values():
            return cleaned  # a field error says which
        try:
            cleaned["default_retention_periods"] = validate_periods(
                periods, entity_type="global"
            )
        except InvalidRetentionPolicy as exc:
            apply_policy_errors(self, exc)
        return cleaned


@admin.register(SystemSettings)
class SystemSettingsAdmin(admin.ModelAdmin):
    form = SystemSettingsForm
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

    def get_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return self.fields  # read-only view: the stored values as they are
        # One number field per retention type instead of the JSON mapping.
        days = [f"days_{rtype}" for rtype in RETENTION_TYPES]
        fields = list(self.fields)
        at = fields.index("default_retention_periods")
        return (*fields[:at], *days, *fields[at + 1 :])

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.has_change_permission(request, obj):
            kwargs["fields"] = None  # the form adds the per-type fields itself
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        changed = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if not name.startswith("days_")
        }
        if any(name.startswith("days_") for name in form.changed_data):
            changed["default_retention_periods"] = form.cleaned_data[
                "default_retention_periods"
            ]
        services.configure_system_settings(
            actor=request.user, request=request, **changed
        )
