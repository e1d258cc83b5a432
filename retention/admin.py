"""Admin pages for retention: policies, legal bounds and holds, runs, batches.

Policies, bounds and holds are edited by Recovery admins through the retention
services, which validate and audit every change; a policy is saved only after
its preview. Cleanup runs are read-only; an archive batch can be restored.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

from retention.forms import RetentionPolicyForm
from retention.models import (
    ArchiveBatch,
    CleanupRun,
    LegalBound,
    LegalHold,
    RetentionPolicy,
)
from retention.services import (
    backup_exposure,
    save_legal_bound,
    save_legal_hold,
    set_retention_policy,
)
from retention.types import RETENTION_TYPE_LABELS, RETENTION_TYPES
from talowa_admin import queue
from talowa_admin.admin_base import ReadOnlyAdmin


def _counts_text(counts: dict) -> str:
    return (
        ", ".join(
            f"{RETENTION_TYPE_LABELS.get(k, k)}: {v}"
            for k, v in (counts or {}).items()
            if v
        )
        or "nothing"
    )


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    form = RetentionPolicyForm
    list_display = ("__str__", "entity_type", "periods", "auto_cleanup", "updated_at")
    list_filter = ("entity_type", "auto_cleanup")
    search_fields = ("user__username", "conversation__title")
    list_select_related = ("user", "conversation")
    raw_id_fields = ("user", "conversation")
    change_list_template = "admin/retention/retentionpolicy/change_list.html"

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            fields = ("entity_type", "user", "conversation", "retention_periods")
            return ((None, {"fields": (*fields, "auto_cleanup", "updated_at")}),)
        days = [f"days_{rtype}" for rtype in RETENTION_TYPES]
        return (
            (None, {"fields": ("entity_type", "user", "conversation", "auto_cleanup")}),
            ("Days to keep each type", {"fields": days}),
            ("Save", {"fields": ("confirm_preview",)}),
        )

    def get_readonly_fields(self, request, obj=None):
        return ("entity_type", "user", "conversation") if obj else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self.has_change_permission(request, obj):
            kwargs["fields"] = None  # the form adds the per-type fields itself
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="Days")
    def periods(self, obj: RetentionPolicy) -> str:
        return _counts_text(obj.retention_periods)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        entity_type = obj.entity_type
        entity = obj.user if entity_type == "user" else obj.conversation
        saved = set_retention_policy(
            entity_id=entity.pk,
            entity_type=entity_type,
            retention_periods=form.cleaned_data["retention_periods"],
            auto_cleanup=form.cleaned_data["auto_cleanup"],
            actor=request.user,
            request=request,
        )
        obj.pk = saved.pk

    def changelist_view(self, request, extra_context=None):
        extra = {
            "exposure": [
                {"label": RETENTION_TYPE_LABELS[rtype], **row}
                for rtype, row in backup_exposure().items()
            ]
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})


@admin.register(LegalBound)
class LegalBoundAdmin(admin.ModelAdmin):
    list_display = ("retention_type", "min_days", "max_days", "reason", "updated_at")
    fields = ("retention_type", "min_days", "max_days", "reason")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("retention_type",) if obj else ()

    def save_model(self, request, obj, form, change) -> None:
        save_legal_bound(bound=obj, actor=request.user, request=request)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "reason",
        "created_at",
        "created_by",
        "until",
        "released_at",
        "active",
    )
    list_filter = ("released_at",)
    search_fields = ("user__username", "conversation__title", "reason")
    list_select_related = ("user", "conversation", "created_by")
    raw_id_fields = ("user", "conversation")
    fields = ("user", "conversation", "reason", "until", "released_at", "created_by")
    readonly_fields = ("created_by",)

    @admin.display(boolean=True)
    def active(self, obj: LegalHold) -> bool:
        return obj.is_active

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # released, never deleted: the record stays

    def _may_manage(self, request) -> bool:
        return request.user.has_perm("retention.manage_legal_hold")

    def has_add_permission(self, request) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def save_model(self, request, obj, form, change) -> None:
        save_legal_hold(hold=obj, actor=request.user, request=request)


@admin.register(CleanupRun)
class CleanupRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "dry_run",
        "trigger",
        "actor_label",
        "total",
        "counts_text",
        "seconds",
    )
    list_filter = ("status", "dry_run", "trigger")

    @admin.display(description="Per type")
    def counts_text(self, obj: CleanupRun) -> str:
        return _counts_text(obj.counts)


@admin.register(ArchiveBatch)
class ArchiveBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "reason",
        "state",
        "total",
        "counts_text",
        "purge_after",
        "note",
    )
    list_filter = ("reason", "restored_at", "purged_at")
    actions = ["restore_selected"]

    @admin.display(description="Per type")
    def counts_text(self, obj: ArchiveBatch) -> str:
        return _counts_text(obj.counts)

    def has_restore_permission(self, request) -> bool:
        return request.user.has_perm("retention.restore_archivebatch")

    @admin.action(permissions=["restore"], description="Restore the selected batch…")
    def restore_selected(self, request, queryset):
        batches = list(
            queryset.filter(restored_at__isnull=True, purged_at__isnull=True)
        )
        if len(batches) != 1:
            self.message_user(
                request,
                "Select exactly one batch that is neither restored nor purged.",
                messages.WARNING,
            )
            return None
        batch = batches[0]
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/retention/archivebatch/confirm_restore.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"Restore archive batch {batch.pk}?",
                    "batch": batch,
                    "counts": _counts_text(batch.counts),
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        queue.enqueue_and_audit(
            "retention.tasks.restore_archive_batch",
            batch.pk,
            request.user.pk,
            name=f"restore archive batch {batch.pk}",
            group="retention",
            request=request,
            action="retention.restore_batch_queue",
            target=batch,
        )
        self.message_user(
            request,
            f"The restore of archive batch {batch.pk} was queued; its state "
            "changes to restored when it is done.",
            messages.SUCCESS,
        )
        return None
