"""Admin pages for recovery plans and runs, and the restore flow.

Restoring is for Recovery admins only: a confirmation page shows the chain
and a dry-run report, then a queued django-q2 task runs the plan and the
run's page follows it step by step. A finished run can be rolled back from
its pre-restore backup, after a confirmation page of its own.

The dry run verifies every archive of the chain and reads it all, which takes
seconds per million messages, so it runs in the queue too: the page queues
it, then refreshes until its report is there. The page's address carries the
dry run's task id, signed together with the backup and the admin, so a
report is shown only to the admin who asked for it, and only for an hour.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django_q.tasks import fetch

from backups.admin import backup_or_404
from recovery.exceptions import RecoveryError
from recovery.models import RecoveryPlan, RecoveryRun
from recovery.services.plans import mark_dead_runs, start_recovery_run
from recovery.services.restoring import resolve_target
from talowa_admin import queue
from talowa_admin.admin import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event

RESTORE_PERMISSION = "backups.restore_backup"
PREVIEW_SALT = "recovery.restore-preview"
PREVIEW_MAX_AGE = 3600  # seconds a dry run's report may be acted on


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

    def changelist_view(self, request, extra_context=None):
        mark_dead_runs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_dead_runs()
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
            context["chain"] = resolve_target(backup.id).chain
        except RecoveryError as exc:
            context["problem"] = str(exc)
        else:
            if request.method == "POST" and request.POST.get("confirmed") == "yes":
                return self._queue_restore(request, backup.id)
            token = request.GET.get("preview")
            if token is None:
                return self._queue_preview(request, backup.id)
            context.update(_preview(token, backup_id=backup.id, user=request.user))
        return TemplateResponse(
            request, "admin/recovery/recoveryrun/confirm_restore.html", context
        )

    def _queue_preview(self, request: HttpRequest, backup_id: str):
        """Queue the dry run and come back to this page to wait for it."""
        task_id = queue.enqueue(
            "recovery.tasks.preview_restore",
            backup_id,
            request.user.pk,
            name=f"dry run of restore {backup_id}",
            group="recovery",
        )
        token = signing.dumps(
            {"task": task_id, "backup": backup_id, "user": request.user.pk},
            salt=PREVIEW_SALT,
        )
        url = reverse("admin:recovery_recoveryrun_restore", args=[backup_id])
        return HttpResponseRedirect(f"{url}?{urlencode({'preview': token})}")

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


def _preview(token: str, *, backup_id: str, user) -> dict:
    """Return the template context of the dry run ``token`` names.

    One of: ``report`` (the dry run's result), ``problem`` (why there is
    none) or ``waiting`` (it has not finished; the page refreshes).
    """
    try:
        preview = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.SignatureExpired:
        return _start_again("This dry run is more than an hour old.")
    except signing.BadSignature:
        return _start_again("This dry run's address is not valid.")
    if preview.get("backup") != backup_id or preview.get("user") != user.pk:
        return _start_again("This dry run was made for another backup or admin.")
    task = fetch(preview["task"])
    if task is None:
        return {"waiting": True, "queued": queue.queued_count()}
    if not task.success or not isinstance(task.result, dict):
        return _start_again(
            f'The dry run failed; the task "{task.name}" in the Tasks admin says why.'
        )
    if "problem" in task.result:
        return _start_again(task.result["problem"])
    return {"report": task.result["report"], "checked_at": task.stopped}


def _start_again(problem: str) -> dict:
    """Context for a dry run that gave no report: say why, offer a new one."""
    return {"problem": problem, "start_again": True}


def _can_roll_back(request: HttpRequest, run: RecoveryRun) -> bool:
    return (
        request.user.has_perm(RESTORE_PERMISSION)
        and bool(run.pre_restore_backup_id)
        and run.status in {RecoveryRun.Status.COMPLETED, RecoveryRun.Status.FAILED}
    )
