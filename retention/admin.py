"""Admin pages for retention policies and legal holds.

Read-only until editing goes through the retention services, which audit
every change.
"""

from __future__ import annotations

from django.contrib import admin

from retention.models import LegalHold, RetentionPolicy
from talowa_admin.admin import ReadOnlyAdmin


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "entity_type", "auto_cleanup", "updated_at")
    list_filter = ("entity_type", "auto_cleanup")
    search_fields = ("user__username",)
    list_select_related = ("user",)


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    list_display = ("user", "reason", "created_at", "created_by", "released_at")
    list_filter = ("released_at",)
    search_fields = ("user__username", "reason")
    list_select_related = ("user", "created_by")
