"""Admin pages for the backup catalog, schedules and export jobs.

Actions go through the services (which audit them); long ones are queued as
django-q2 tasks with ids. Destructive actions show a confirmation page first.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from backups.exceptions import BackupError
from backups.models import Backup, BackupSchedule, ExportJob
from backups.selectors import chain_of
from backups.services import expire_backup
from backups.services.catalog import mark_stale_backups
from backups.services.exporting import mark_stale_exports
from backups.services.presenting import stored_manifest
from talowa_admin import queue
from talowa_admin.admin import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "scope",
        "owner",
        "status_badge",
        "stored_size",
        "created_at",
        "duration_text",
        "verified",
    )
    list_filter = (
        "status",
        "kind",
        "scope",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    search_fields = ("id", "owner__username", "note")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["verify_selected", "expire_selected", "restore_selected"]
    change_list_template = "admin/backups/backup/change_list.html"
    change_form_template = "admin/backups/backup/change_form.html"
    readonly_fields = (
        "id",
        "kind",
        "scope",
        "owner",
        "parent",
        "status",
        "data_types",
        "counts",
        "watermark",
        "raw_size",
        "compressed_size",
        "stored_size",
        "sha256",
        "storage",
        "object_key",
        "key_id",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "note",
        "metadata",
        "requested_by",
        "verified_at",
        "verify_ok",
        "verify_error",
        "audit_head_event_id",
        "audit_head_hash",
    )
    exclude = ("raw_bytes", "compressed_bytes", "stored_bytes")

    # --- columns ---------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Backup) -> str:
        return format_html(
            '<span class="backup-status backup-{}">{}</span>',
            obj.status,
            obj.get_status_display(),
        )

    @admin.display(description="Stored", ordering="stored_bytes")
    def stored_size(self, obj: Backup) -> str:
        return filesizeformat(obj.stored_bytes)

    @admin.display(description="Raw")
    def raw_size(self, obj: Backup) -> str:
        return filesizeformat(obj.raw_bytes)

    @admin.display(description="Compressed")
    def compressed_size(self, obj: Backup) -> str:
        return filesizeformat(obj.compressed_bytes)

    @admin.display(description="Took")
    def duration_text(self, obj: Backup) -> str:
        return f"{obj.duration.total_seconds():.1f} s" if obj.duration else "–"

    @admin.display(description="Verified", boolean=True, ordering="verify_ok")
    def verified(self, obj: Backup) -> bool | None:
        return obj.verify_ok

    # --- permissions -------------------------------------------------------------

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.run_backup")

    def has_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.verify_backup")

    def has_expire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.expire_backup")

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.restore_backup")

    # --- pages -------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "back-up-now/",
                self.admin_site.admin_view(self.back_up_now),
                name="backups_backup_back_up_now",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        mark_stale_backups()
        extra = {
            "can_back_up": self.has_run_permission(request),
            "running": Backup.objects.filter(
                status=Backup.Status.RUNNING
            ).select_related("owner"),
            "recent_tasks": queue.recent_results("backups"),
            "queued": queue.queued_count(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backup = self.get_object(request, unquote(object_id))
        extra = {}
        if backup is not None:
            extra["chain"] = _safe_chain(backup)
            manifest, problem = stored_manifest(backup)
            extra["manifest_json"] = (
                json.dumps(manifest, indent=2, ensure_ascii=False) if manifest else ""
            )
            extra["manifest_problem"] = problem
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def back_up_now(self, request: HttpRequest):
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:backups_backup_changelist"))
        kind = "incremental" if request.POST.get("kind") == "incremental" else "full"
        task_id = queue.enqueue(
            "backups.tasks.run_backup",
            kind,
            None,
            request.user.pk,
            name=f"{kind} backup by {request.user.get_username()}",
            group="backups",
        )
        record_audit_event(
            action="backup.queue",
            request=request,
            details={"kind": kind, "task": task_id},
        )
        self.message_user(
            request,
            f"A {kind} backup was queued; its progress shows "
            "below and in the list when it starts.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:backups_backup_changelist"))

    # --- actions -----------------------------------------------------------------

    @admin.action(permissions=["verify"], description="Verify selected backups")
    def verify_selected(self, request, queryset):
        ids = list(
            queryset.filter(status=Backup.Status.COMPLETED).values_list("id", flat=True)
        )
        if not ids:
            self.message_user(
                request, "Only completed backups can be verified.", messages.WARNING
            )
            return
        queue.enqueue(
            "backups.tasks.verify_backups",
            ids,
            request.user.pk,
            name=f"verify {len(ids)} backup(s)",
            group="backups",
        )
        self.message_user(
            request,
            f"Verification of {len(ids)} backup(s) was "
            "queued; the Verified column shows the outcome.",
            messages.SUCCESS,
        )

    @admin.action(permissions=["expire"], description="Expire selected backups…")
    def expire_selected(self, request, queryset):
        candidates = list(queryset.exclude(status=Backup.Status.EXPIRED))
        if request.POST.get("confirmed") == "yes":
            return self._expire(request, candidates)
        return TemplateResponse(
            request,
            "admin/backups/backup/confirm_expire.html",
            {
                **self.admin_site.each_context(request),
                "title": "Expire backups?",
                "backups": candidates,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def _expire(self, request, candidates):
        done, refused = 0, []
        # Children first, so a chain selected whole can go.
        for backup in sorted(candidates, key=lambda b: b.created_at, reverse=True):
            try:
                expire_backup(backup, actor=request.user, reason="admin action")
                done += 1
            except BackupError as exc:
                refused.append(str(exc))
        self.message_user(request, f"{done} backup(s) expired.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(permissions=["restore"], description="Restore the selected backup…")
    def restore_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one backup to restore.", messages.WARNING
            )
            return None
        backup = queryset.get()
        url = reverse("admin:recovery_recoveryrun_restore", args=[backup.pk])
        return HttpResponseRedirect(url)


def _safe_chain(backup: Backup) -> list[Backup]:
    try:
        return chain_of(backup)
    except (BackupError, Backup.DoesNotExist):
        return [backup]


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
        "export_size",
        "requested_by",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "format", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user", "requested_by")

    def changelist_view(self, request, extra_context=None):
        mark_stale_exports()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_stale_exports()
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Size", ordering="size_bytes")
    def export_size(self, obj: ExportJob) -> str:
        return filesizeformat(obj.size_bytes)


def backup_or_404(backup_id: str) -> Backup:
    return get_object_or_404(Backup, pk=backup_id)


import backups.admin_exports  # noqa: E402,F401  (registers the users "Export data" action)
import backups.admin_migrations  # noqa: E402,F401  (storage migration runs)
