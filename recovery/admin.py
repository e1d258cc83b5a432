"""Admin pages for recovery plans and runs, and the restore flow.

A plan's steps are chosen from menus of the known steps
(``recovery.plan_forms``); "Run this plan…" asks which backup to restore on a
confirmation page, then queues the plan's run like a restore.

Restoring is for Recovery admins only. The restore page offers what
``restore_backup`` offers (the whole system or one user, every data type or
some) and a button that queues a dry run with those options; the page then
refreshes until the dry run's report is there, and only that report offers
to restore. The report counts the restored rows already past their
retention; the restore archives them again unless the admin ticks "keep"
(``--keep-past-retention``). A queued django-q2 task runs the plan and the
run's page follows it step by step. A finished run can be rolled back from
its pre-restore backup, after a confirmation page of its own.

Restore drills, maintenance runs and health snapshots are records to read:
every staff role sees them, nobody changes them. A drill's page is its
report (the chain, each table compared); a drill or maintenance run whose
worker died is failed as such when its list or page is opened.

Invariants:
- Opening the page changes nothing and queues nothing: a dry run starts with
  a POST, and so does the restore.
- A restore is queued only against the token of a *completed* dry run, signed
  together with the backup, the options and the admin, at most an hour old,
  and not used before: what is restored is what the admin was shown.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django_q.tasks import fetch

from backups.admin import backup_or_404
from recovery.exceptions import RecoveryError
from recovery.forms import RestoreOptionsForm
from recovery.models import (
    HealthSnapshot,
    MaintenanceRun,
    RecoveryPlan,
    RecoveryRun,
    RestoreDrill,
)
from recovery.plan_forms import RecoveryPlanForm, RunPlanForm
from recovery.services.activity import running_drills, running_maintenance
from recovery.services.plans import mark_dead_runs, start_recovery_run
from recovery.services.restoring import resolve_target
from retention.services.cleanup import grace_window
from retention.types import RETENTION_TYPE_LABELS
from talowa_admin import locks, queue
from talowa_admin.admin_base import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event

RESTORE_PERMISSION = "backups.restore_backup"
RUN_PLAN_PERMISSION = "recovery.run_recovery"
PREVIEW_SALT = "recovery.restore-preview"
PREVIEW_MAX_AGE = 3600  # seconds a dry run's report may be acted on
CONFIRM_LOCK = "restore-confirm"


@admin.register(RecoveryPlan)
class RecoveryPlanAdmin(admin.ModelAdmin):
    form = RecoveryPlanForm
    list_display = ("name", "is_default", "step_titles", "created_at")
    readonly_fields = ("created_at",)
    actions = ["run_plan"]

    @admin.display(description="Steps")
    def step_titles(self, plan: RecoveryPlan) -> str:
        return " → ".join(step.get("title", step["action"]) for step in plan.steps)

    def get_readonly_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return ("name", "description", "is_default", "step_list", "created_at")
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return ("name", "description", "is_default", "step_list", "created_at")
        return ("name", "description", "is_default", "steps", "created_at")

    @admin.display(description="Steps")
    def step_list(self, plan: RecoveryPlan) -> str:
        return format_html(
            '<ol id="plan-steps">{}</ol>',
            format_html_join(
                "",
                "<li>{}</li>",
                ((step.get("title", step["action"]),) for step in plan.steps),
            ),
        )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_PLAN_PERMISSION)

    @admin.action(permissions=["run"], description="Run this plan…")
    def run_plan(self, request: HttpRequest, queryset):
        """Ask which backup the plan restores, then queue the plan's run."""
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one plan to run.", messages.WARNING
            )
            return None
        plan = queryset.get()
        confirming = request.POST.get("confirmed") == "yes"
        form = RunPlanForm(request.POST if confirming else None)
        if confirming and form.is_valid():
            return self._queue_plan(request, plan, form.cleaned_data)
        return TemplateResponse(
            request,
            "admin/recovery/recoveryplan/confirm_run.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Run the plan “{plan.name}”?",
                "plan": plan,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
            status=400 if confirming else 200,
        )

    def _queue_plan(self, request: HttpRequest, plan: RecoveryPlan, chosen: dict):
        options = {
            "validate_before_restore": True,
            "create_pre_restore_backup": chosen["pre_restore_backup"],
            "user": None,
            "data_types": None,
        }
        run = start_recovery_run(
            backup_id=chosen["backup"], plan=plan, options=options, actor=request.user
        )
        queue.enqueue_and_audit(
            "recovery.tasks.run_recovery",
            run.pk,
            request.user.pk,
            name=f"plan {plan.name} for {chosen['backup']}",
            group="recovery",
            request=request,
            action="recovery.plan_queue",
            target=run,
            details={"plan": plan.name, "backup": chosen["backup"], **options},
            task_in_details=False,
        )
        self.message_user(
            request,
            f"The plan “{plan.name}” was queued as recovery run {run.pk}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:recovery_recoveryrun_change", args=[run.pk])
        )


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
    exclude = ("steps",)  # the template shows them as a table of their own

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
            return self._page(request, context)
        if request.method == "POST":
            if request.POST.get("confirmed") == "yes":
                return self._confirm_restore(request, backup, context)
            return self._start_dry_run(request, backup, context)
        token = request.GET.get("preview")
        if token is None:
            context["form"] = self._options_form(backup)
            return self._page(request, context)
        try:
            preview = _read_token(token, backup_id=backup.id, admin=request.user)
            context.update(_dry_run_outcome(preview), **_chosen(preview, backup))
        except PreviewRefused as exc:
            context.update(_start_again(str(exc)))
        else:
            context["token"] = token
        return self._page(request, context)

    def _options_form(self, backup, data=None) -> RestoreOptionsForm:
        return RestoreOptionsForm(data, backup=backup, admin_site=self.admin_site)

    def _page(self, request: HttpRequest, context: dict, *, status: int = 200):
        return TemplateResponse(
            request,
            "admin/recovery/recoveryrun/confirm_restore.html",
            context,
            status=status,
        )

    def _start_dry_run(self, request: HttpRequest, backup, context: dict):
        """Queue the dry run of the chosen options; come back to wait for it."""
        form = self._options_form(backup, request.POST)
        if not form.is_valid():
            return self._page(request, {**context, "form": form}, status=400)
        options = form.options()
        task_id = queue.enqueue(
            "recovery.tasks.preview_restore",
            backup.id,
            request.user.pk,
            options["user"],
            options["data_types"],
            name=f"dry run of restore {backup.id}",
            group="recovery",
        )
        token = signing.dumps(
            {
                "task": task_id,
                "backup": backup.id,
                "admin": request.user.pk,
                "options": options,
            },
            salt=PREVIEW_SALT,
        )
        url = reverse("admin:recovery_recoveryrun_restore", args=[backup.id])
        return HttpResponseRedirect(f"{url}?{urlencode({'preview': token})}")

    def _confirm_restore(self, request: HttpRequest, backup, context: dict):
        """Queue the restore a completed dry run showed, or say why not."""
        form = self._options_form(backup, request.POST)
        try:
            # One confirmation at a time, so that a double click cannot use
            # one dry run twice between the check and the new run.
            with locks.hold(CONFIRM_LOCK, purpose=f"confirming restore of {backup.id}"):
                preview = _completed_dry_run(request, backup, form)
                options = _run_options(request, form, preview)
                return self._queue_restore(request, backup.id, options)
        except locks.LockHeld:
            problem = (
                "Another restore is being confirmed at this moment; open the "
                "Recovery runs, then start again if yours is not there."
            )
        except PreviewRefused as exc:
            problem = str(exc)
        record_audit_event(
            action="restore.refused",
            target=backup,
            request=request,
            details={"reason": problem},
        )
        return self._page(request, {**context, **_start_again(problem)}, status=400)

    def _queue_restore(self, request: HttpRequest, backup_id: str, options: dict):
        run = start_recovery_run(
            backup_id=backup_id, options=options, actor=request.user
        )
        queue.enqueue_and_audit(
            "recovery.tasks.run_recovery",
            run.pk,
            request.user.pk,
            name=f"restore {backup_id}",
            group="recovery",
            request=request,
            action="restore.queue",
            target=run,
            details={"backup": backup_id, **options},
            task_in_details=False,
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
            queue.enqueue_and_audit(
                "recovery.tasks.roll_back_recovery",
                run.pk,
                request.user.pk,
                name=f"roll back run {run.pk}",
                group="recovery",
                request=request,
                action="recovery.rollback_queue",
                target=run,
                task_in_details=False,
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


class PreviewRefused(Exception):
    """A dry run's token that cannot be shown or acted on; the message says why."""


def _read_token(token: str, *, backup_id: str, admin) -> dict:
    """Return the dry run ``token`` names, if it was made for this backup and admin."""
    try:
        preview = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_MAX_AGE)
    except signing.SignatureExpired:
        raise PreviewRefused("This dry run is more than an hour old.") from None
    except signing.BadSignature:
        raise PreviewRefused("This dry run's address is not valid.") from None
    if preview.get("backup") != backup_id or preview.get("admin") != admin.pk:
        raise PreviewRefused("This dry run was made for another backup or admin.")
    return preview


def _dry_run_outcome(preview: dict) -> dict:
    """Return the template context of a dry run: its ``report`` or ``waiting``.

    Raise ``PreviewRefused`` when it gave no report.
    """
    task = fetch(preview["task"])
    if task is None:
        return {"waiting": True, "queued": queue.queued_count()}
    if not task.success or not isinstance(task.result, dict):
        raise PreviewRefused(
            f'The dry run failed; the task "{task.name}" in the Tasks admin says why.'
        )
    if "problem" in task.result:
        raise PreviewRefused(task.result["problem"])
    report = task.result["report"]
    past = (report.get("retention") or {}).get("past_retention") or {}
    return {
        "report": report,
        "checked_at": task.stopped,
        "past_retention": {
            RETENTION_TYPE_LABELS.get(name, name): n for name, n in past.items() if n
        },
        "past_retention_total": sum(past.values()),
        "grace_days": grace_window().days,
    }


def _completed_dry_run(request: HttpRequest, backup, form) -> dict:
    """Return the dry run a confirming POST names, if it may be acted on.

    It must be this admin's, of this backup, with the options posted,
    finished with a report, and not confirmed before.
    """
    if not form.is_valid():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        raise PreviewRefused(f"The restore's options are not valid: {problems}")
    token = request.POST.get("preview")
    if not token:
        raise PreviewRefused("Run a dry run first: a restore needs its report.")
    preview = _read_token(token, backup_id=backup.id, admin=request.user)
    if preview.get("options") != form.options():
        raise PreviewRefused(
            "This dry run was made with other options (user or data types); "
            "run a dry run of the restore you want."
        )
    if "report" not in _dry_run_outcome(preview):
        raise PreviewRefused(
            "This dry run has not finished; wait for its report, then confirm."
        )
    used = RecoveryRun.objects.filter(options__dry_run=preview["task"]).first()
    if used is not None:
        raise PreviewRefused(
            f"This dry run was already confirmed (recovery run {used.pk}); "
            "run a new dry run to restore again."
        )
    return preview


def _run_options(request: HttpRequest, form, preview: dict) -> dict:
    """Return the recovery run's options: the dry run's, and the safety copy."""
    user = form.cleaned_data.get("user")
    return {
        "validate_before_restore": True,
        "create_pre_restore_backup": request.POST.get("pre_restore") != "no",
        "keep_past_retention": request.POST.get("keep_past_retention") == "yes",
        "user": user.get_username() if user else None,
        "data_types": preview["options"]["data_types"],
        "dry_run": preview["task"],
    }


def _chosen(preview: dict, backup) -> dict:
    """Context naming what the dry run covered, and the fields that confirm it."""
    options = preview["options"]
    user = queue.user_by_id(options["user"])
    if options["user"] and user is None:
        raise PreviewRefused("The user this dry run was made for no longer exists.")
    types = options["data_types"] or list(backup.data_types)
    return {"chosen_user": user, "chosen_types": types}


def _start_again(problem: str) -> dict:
    """Context for a dry run that gave no report: say why, offer a new one."""
    return {"problem": problem, "start_again": True}


def _can_roll_back(request: HttpRequest, run: RecoveryRun) -> bool:
    return (
        request.user.has_perm(RESTORE_PERMISSION)
        and bool(run.pre_restore_backup_id)
        and run.status in {RecoveryRun.Status.COMPLETED, RecoveryRun.Status.FAILED}
    )


@admin.register(RestoreDrill)
class RestoreDrillAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "backup_id",
        "status",
        "rto_seconds",
        "engine",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "started_at")
    search_fields = ("backup_id",)
    # The page reads as a report: the chain as links, the comparison as a table.
    fields = readonly_fields = (
        "status",
        "chain_of_backups",
        "engine",
        "rto",
        "verify",
        "load",
        "table_comparison",
        "error",
        "started_at",
        "finished_at",
        "requested_by",
    )

    @admin.display(description="Chain restored (full first)")
    def chain_of_backups(self, drill: RestoreDrill) -> str:
        if not drill.chain:
            return "–"
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                '<li><a href="{}"><code>{}</code></a></li>',
                (
                    (reverse("admin:backups_backup_change", args=[quote(id_)]), id_)
                    for id_ in drill.chain
                ),
            ),
        )

    @admin.display(description="RTO (seconds)")
    def rto(self, drill: RestoreDrill) -> str:
        return _seconds(drill.rto_seconds)

    @admin.display(description="of which verifying the chain")
    def verify(self, drill: RestoreDrill) -> str:
        return _seconds(drill.verify_seconds)

    @admin.display(description="of which loading it")
    def load(self, drill: RestoreDrill) -> str:
        return _seconds(drill.load_seconds)

    @admin.display(description="Tables compared")
    def table_comparison(self, drill: RestoreDrill) -> str:
        """Each table's rows and content checksum: from the archives, restored."""
        if not drill.tables:
            return "–"
        rows = format_html_join(
            "",
            '<tr><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td>'
            '<td><span class="badge badge-{}">{}</span></td></tr>',
            (
                (
                    table,
                    _rows(found.get("expected")),
                    _rows(found.get("restored")),
                    "ok" if found.get("match") else "broken",
                    "Equal" if found.get("match") else "Different",
                )
                for table, found in sorted(drill.tables.items())
            ),
        )
        return format_html(
            '<table class="talowa-table" id="drill-tables"><thead><tr>'
            '<th>Table</th><th class="num">Rows in the archives</th>'
            '<th class="num">Rows restored</th><th>Rows and checksum</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def changelist_view(self, request, extra_context=None):
        running_drills()  # a drill whose worker died says so, not "running"
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        running_drills()
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(ReadOnlyAdmin):
    """System maintenance runs (the dashboard's "Run maintenance", the schedule)."""

    list_display = (
        "id",
        "started_at",
        "status",
        "dry_run",
        "actor_label",
        "steps_summary",
        "finished_at",
    )
    list_filter = ("status", "dry_run", "started_at")

    @admin.display(description="Steps")
    def steps_summary(self, run: MaintenanceRun) -> str:
        outcomes = Counter(step.get("status", "?") for step in run.steps.values())
        return (
            ", ".join(f"{count} {status}" for status, count in outcomes.items()) or "–"
        )

    def changelist_view(self, request, extra_context=None):
        running_maintenance()  # a run whose worker died says so, not "running"
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        running_maintenance()
        return super().change_view(request, object_id, form_url, extra_context)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _rows(side: dict | None) -> str:
    return "–" if not side else f"{side.get('rows', 0):,}"


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "component", "status", "value", "threshold", "alert")
    list_filter = ("component", "status", "alert", "checked_at")
