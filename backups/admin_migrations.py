"""Storage migration runs in the admin: read-only records of migrate_backups."""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from backups.models import StorageMigration, StorageMigrationItem
from talowa_admin.admin_base import ReadOnlyAdmin


class StorageMigrationItemInline(admin.TabularInline):
    model = StorageMigrationItem
    fields = ("backup_id", "source", "state", "bytes", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        # Items are part of their run: whoever may see the run sees them.
        return request.user.has_perm("backups.view_storagemigration")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StorageMigration)
class StorageMigrationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "target",
        "status",
        "progress",
        "copied",
        "rate",
        "error_count",
        "resumed",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "target", "started_at")
    inlines = [StorageMigrationItemInline]

    @admin.display(description="Backups")
    def progress(self, obj: StorageMigration) -> str:
        return f"{obj.backups_done}/{obj.backups_total}"

    @admin.display(description="Copied", ordering="bytes_copied")
    def copied(self, obj: StorageMigration) -> str:
        return filesizeformat(obj.bytes_copied)

    @admin.display(description="Rate")
    def rate(self, obj: StorageMigration) -> str:
        return f"{filesizeformat(obj.rate)}/s"

    @admin.display(description="Errors")
    def error_count(self, obj: StorageMigration) -> int:
        return len(obj.errors)
