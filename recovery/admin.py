"""Admin pages for recovery plans and runs."""

from __future__ import annotations

from django.contrib import admin

from recovery.models import RecoveryPlan, RecoveryRun
from talowa_admin.admin import ReadOnlyAdmin


@admin.register(RecoveryPlan)
class RecoveryPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "is_default", "created_at")


@admin.register(RecoveryRun)
class RecoveryRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "backup_id", "plan", "status", "created_at", "finished_at")
    list_filter = ("status", "created_at")
    search_fields = ("backup_id",)
    list_select_related = ("plan",)
