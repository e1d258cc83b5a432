"""Admin pages for recovery plans and runs, and the restore flow.

Restoring is for Recovery admins only: a confirmation page shows the chain
and a dry-run report, then a queued django-q2 task runs the plan and the
run's page follows it step by step. A finished run can be rolled back from
its pre-restore backup, after a confirmation page of its own.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from backups.admin import backup_or_404
from recovery.exceptions import RecoveryError
from recovery.models import RecoveryPlan, RecoveryRun
from recovery.services.plans import start_recovery_run
from recovery.services.restoring import resolve_target, restore_from_backup
from talowa_admin import queue
from talowa_admin.admin import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event

RESTORE_PERMISSION = "backups.restore_backup"


@admin.register(RecoveryPlan)
class RecoveryPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "is_default", "created_at")
    readonly_fields = ("created_at",)


@admin.register(RecoveryRun)
class RecoveryRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "backup_id",
        "plan",
        "status",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("backup_id",)
    list_select_related = ("plan", "requested_by")
    change_form_template = "admin/recovery/recoveryrun/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "restore/<str:backup_id>/",
                view(self.restore_view),
                name="recovery_recoveryrun_restore",
            ),
            path(
                "<int:run_id>/rollback/",
                view(self.rollback_view),
                name="recovery_recoveryrun_rollback",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        extra = {}
        if run is not None:
            extra = {
                "run": run,
                "refresh": run.status
                in {RecoveryRun.Status.QUEUED, RecoveryRun.Status.RUNNING},
                "can_roll_back": _can_roll_back(request, run),
            }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def restore_view(self, request: HttpRequest, backup_id: str):
        if not request.user.has_perm(RESTORE_PERMISSION):
            raise PermissionDenied
        backup = backup_or_404(backup_id)
        context = {
            **self.admin_site.each_context(request),
            "backup": backup,
            "title": f"Restore {backup.id}?",
            "opts": self.model._meta,
        }
        try:
            target = resolve_target(backup.id)
            context["chain"] = target.chain
            if request.method == "POST" and request.POST.get("confirmed") == "yes":
                return self._queue_restore(request, backup.id)
            context["report"] = restore_from_backup(
                backup.id, dry_run=True, actor=request.user
            )
        except RecoveryError as exc:
            context["problem"] = str(exc)
        return TemplateResponse(
            request, "admin/recovery/recoveryrun/confirm_restore.html", context
        )

    def _queue_restore(self, request: HttpRequest, backup_id: str):
        options = {
            "validate_before_restore": True,
            "create_pre_restore_backup": request.POST.get("pre_restore") != "no",
        }
        run = start_recovery_run(
            backup_id=backup_id, options=options, actor=request.user
        )
        queue.enqueue(
            "recovery.tasks.run_recovery",
            run.pk,
            request.user.pk,
            name=f"restore {backup_id}",
            group="recovery",
        )
        record_audit_event(
            action="restore.queue",
            target=run,
            request=request,
            details={"backup": backup_id, **options},
        )
        self.message_user(
            request, f"Restore of {backup_id} queued as run {run.pk}.", messages.SUCCESS
        )
        return HttpResponseRedirect(
            reverse("admin:recovery_recoveryrun_change", args=[run.pk])
        )

    def rollback_view(self, request: HttpRequest, run_id: int):
        run = self.get_object(request, str(run_id))
        if run is None:
            return HttpResponseRedirect(
                reverse("admin:recovery_recoveryrun_changelist")
            )
        if not _can_roll_back(request, run):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("confirmed") == "yes":
            queue.enqueue(
                "recovery.tasks.roll_back_recovery",
                run.pk,
                request.user.pk,
                name=f"roll back run {run.pk}",
                group="recovery",
            )
            record_audit_event(
                action="recovery.rollback_queue", target=run, request=request
            )
            self.message_user(
                request, f"Roll-back of run {run.pk} queued.", messages.SUCCESS
            )
            return HttpResponseRedirect(
                reverse("admin:recovery_recoveryrun_change", args=[run.pk])
            )
        return TemplateResponse(
            request,
            "admin/recovery/recoveryrun/confirm_rollback.html",
            {
                **self.admin_site.each_context(request),
                "run": run,
                "title": f"Roll back run {run.pk}?",
                "opts": self.model._meta,
            },
        )


def _can_roll_back(request: HttpRequest, run: RecoveryRun) -> bool:
    return (
        request.user.has_perm(RESTORE_PERMISSION)
        and bool(run.pre_restore_backup_id)
        and run.status in {RecoveryRun.Status.COMPLETED, RecoveryRun.Status.FAILED}
    )
