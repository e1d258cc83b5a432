"""Admin for the audit trail (read-only) and the system settings (one row).

The top floor of talowa_admin: it calls the facade, which imports the apps.
The apps' admins build on ``talowa_admin.admin_base`` instead.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from retention.exceptions import InvalidRetentionPolicy
from retention.services import validate_periods
from talowa_admin import services
from talowa_admin.admin_base import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event
from talowa_admin.forms import (
    RETENTION_FIELDS,
    RETENTION_PREFIX,
    SystemSettingsForm,
    retention_label,
)
from talowa_admin.humanize import split_size
from talowa_admin.models import DEFAULT_RETENTION_PERIODS, AuditEvent, SystemSettings


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
    change_list_template = "admin/talowa_admin/auditevent/change_list.html"

    def get_urls(self):
        return [
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="talowa_admin_auditevent_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest):
        """Check the whole chain (a POST) and show what the check found."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:talowa_admin_auditevent_changelist")
            )
        result = services.verify_audit_log()
        record_audit_event(
            action="audit.verify",
            request=request,
            details={key: result[key] for key in ("ok", "checked", "broken_at")},
        )
        return TemplateResponse(
            request,
            "admin/talowa_admin/auditevent/verify.html",
            {
                **self.admin_site.each_context(request),
                "title": "Audit trail verification",
                "opts": self.model._meta,
                "result": result,
            },
        )


class SettingsWithinLegalBoundsForm(SystemSettingsForm):
    """The settings form; the global retention default within the legal bounds."""

    def clean(self):
        cleaned = super().clean()
        fields = [RETENTION_PREFIX + kind for kind in DEFAULT_RETENTION_PERIODS]
        if any(name not in cleaned for name in fields):
            return cleaned  # a field error says which
        try:
            validate_periods(self.retention_periods(), entity_type="global")
        except InvalidRetentionPolicy as exc:
            for kind, messages in exc.message_dict.items():
                name = RETENTION_PREFIX + kind
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(SystemSettings)
class SystemSettingsAdmin(admin.ModelAdmin):
    form = SettingsWithinLegalBoundsForm
    readonly_fields = ("updated_at", "updated_by")

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return (
                (
                    None,
                    {
                        "fields": (
                            "default_backup_interval",
                            "enable_automatic_cleanup",
                            "max_backups_per_user",
                            "storage_quota",
                            "updated_at",
                            "updated_by",
                        )
                    },
                ),
                ("Retention periods", {"fields": ("retention_table",)}),
            )
        return (
            (
                None,
                {
                    "fields": (
                        "default_backup_interval",
                        "enable_automatic_cleanup",
                        "max_backups_per_user",
                        "max_storage_per_user",
                        "updated_at",
                        "updated_by",
                    )
                },
            ),
            (
                "Retention periods (days to keep each type, for users without "
                "a policy)",
                {"fields": RETENTION_FIELDS},
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return (
                "default_backup_interval",
                "enable_automatic_cleanup",
                "max_backups_per_user",
                "storage_quota",
                "retention_table",
                "updated_at",
                "updated_by",
            )
        return self.readonly_fields

    @admin.display(description="Max storage per user")
    def storage_quota(self, obj: SystemSettings) -> str:
        number, unit = split_size(obj.max_storage_per_user)
        return f"{number} {unit}"

    @admin.display(description="Days kept")
    def retention_table(self, obj: SystemSettings) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (retention_label(kind), days)
                for kind, days in {
                    **DEFAULT_RETENTION_PERIODS,
                    **obj.default_retention_periods,
                }.items()
            ),
        )
        return format_html(
            '<table class="talowa-table" id="retention-periods">'
            "<thead><tr><th>Type</th><th>Days</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

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
            actor=request.user, request=request, **form.settings_values()
        )
