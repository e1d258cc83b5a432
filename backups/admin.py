"""Admin pages for the backup catalog, schedules and export jobs."""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from backups.models import Backup, BackupSchedule, ExportJob
from talowa_admin.admin import ReadOnlyAdmin


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "scope",
        "owner",
        "status",
        "stored_size",
        "created_at",
        "verify_ok",
    )
    list_filter = ("status", "kind", "scope", "created_at")
    search_fields = ("id", "owner__username", "note")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"

    @admin.display(description="Stored size", ordering="stored_bytes")
    def stored_size(self, obj: Backup) -> str:
        return filesizeformat(obj.stored_bytes)


@admin.register(BackupSchedule)
class BackupScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "interval", "incremental", "enabled", "last_run_at")
    list_filter = ("enabled", "incremental")
    readonly_fields = (
        "q_schedule_id",
        "last_run_at",
        "last_backup",
        "created_at",
        "created_by",
    )


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "format",
        "status",
        "size_bytes",
        "requested_by",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "format", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user", "requested_by")
