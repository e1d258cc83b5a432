"""Admin pages of backup schedules and their runs.

Operators create, change, enable, disable, delete and run schedules; viewers
see them. Every change goes through ``backups.services.scheduling`` (which
validates, audits and keeps django-q2 in step); django-q2's own ids stay out
of sight.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_q.models import Schedule

from backups.forms import BackupScheduleForm
from backups.models import BackupSchedule, BackupScheduleRun
from backups.services.scheduling import (
    delete_backup_schedule,
    execute_backup_now,
    save_schedule,
    set_schedules_enabled,
)
from backups.services.scheduling.runs import mark_dead_runs
from backups.services.scheduling.validation import schedule_timing
from talowa_admin.admin_base import ReadOnlyAdmin

RECENT_RUNS = 20
DATA_LABELS = {
    "messages": "messages",
    "conversations": "conversations",
    "call_history": "call history",
    "media_files": "media files",
}


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "–"


@admin.register(BackupSchedule)
class BackupScheduleAdmin(admin.ModelAdmin):
    form = BackupScheduleForm
    list_display = (
        "name",
        "when",
        "what",
        "enabled",
        "next_run",
        "last_result",
        "run_now_link",
    )
    list_filter = ("enabled", "incremental", "kind")
    search_fields = ("name", "note", "owner__username")
    actions = ["run_now_selected", "enable_selected", "disable_selected"]
    change_form_template = "admin/backups/backupschedule/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "enabled")}),
        (
            "When",
            {
                "fields": ("kind", "every", "at_time", "weekday", "day_of_month"),
                "description": "Every N minutes or hours uses the number; daily, "
                "weekly and monthly use the time of day (and the weekday or "
                "the day of the month), in the server's time zone.",
            },
        ),
        (
            "What",
            {
                "fields": (
                    "incremental",
                    "full_every_days",
                    "data_types",
                    "owner",
                    "note",
                )
            },
        ),
        ("Runs", {"fields": ("next_run", "last_run_at", "last_backup", "recent_runs")}),
    )
    view_fieldsets = (
        (None, {"fields": ("name", "enabled", "when", "what", "data", "note")}),
        ("Runs", {"fields": ("next_run", "last_run_at", "last_backup", "recent_runs")}),
    )
    readonly_fields = ("next_run", "last_run_at", "last_backup", "recent_runs")
    raw_id_fields = ("owner",)

    def get_queryset(self, request):
        latest = BackupScheduleRun.objects.filter(schedule=OuterRef("pk")).order_by(
            "-queued_at", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .select_related("owner", "last_backup")
            .annotate(
                next_run_at=Subquery(
                    Schedule.objects.filter(pk=OuterRef("q_schedule_id")).values(
                        "next_run"
                    )[:1]
                ),
                last_result_value=Subquery(latest.values("result")[:1]),
                last_result_message=Subquery(latest.values("message")[:1]),
            )
        )

    def changelist_view(self, request, extra_context=None):
        mark_dead_runs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_dead_runs()
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.view_fieldsets
        if obj is None:
            return self.fieldsets[:3]
        return self.fieldsets

    # --- columns -----------------------------------------------------------------

    @admin.display(description="When")
    def when(self, obj: BackupSchedule) -> str:
        return schedule_timing(obj).describe()

    @admin.display(description="What")
    def what(self, obj: BackupSchedule) -> str:
        kind = "incremental" if obj.incremental else "full"
        scope = f"user {obj.owner}" if obj.owner_id else "system"
        if obj.incremental and obj.full_every_days:
            kind += f" (full every {obj.full_every_days} days)"
        return f"{kind}, {scope}"

    @admin.display(description="Data")
    def data(self, obj: BackupSchedule) -> str:
        return ", ".join(DATA_LABELS.get(t, t) for t in obj.data_types)

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run(self, obj: BackupSchedule) -> str:
        if not obj.enabled:
            return "disabled"
        return _when(getattr(obj, "next_run_at", None))

    @admin.display(description="Last result")
    def last_result(self, obj: BackupSchedule) -> str:
        result = getattr(obj, "last_result_value", None)
        if not result:
            return "never run"
        return format_html(
            '<span class="schedule-run-{}" title="{}">{}</span>',
            result,
            getattr(obj, "last_result_message", "") or "",
            BackupScheduleRun.Result(result).label,
        )

    @admin.display(description="")
    def run_now_link(self, obj: BackupSchedule) -> str:
        url = reverse("admin:backups_backupschedule_run_now", args=[obj.pk])
        return format_html('<a href="{}">Run now…</a>', url)

    @admin.display(description="Recent runs")
    def recent_runs(self, obj: BackupSchedule) -> str:
        runs = list(obj.runs.select_related("backup")[:RECENT_RUNS])
        if not runs:
            return "No run yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _when(run.started_at or run.queued_at),
                    run.get_trigger_display(),
                    run.get_result_display(),
                    run.backup_id or "–",
                    run.message,
                )
                for run in runs
            ),
        )
        everything = (
            reverse("admin:backups_backupschedulerun_changelist")
            + f"?schedule__id__exact={obj.pk}"
        )
        return format_html(
            "<table><thead><tr><th>Started</th><th>Trigger</th><th>Result</th>"
            "<th>Backup</th><th>Message</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All runs of this schedule</a></p>',
            rows,
            everything,
        )

    # --- permissions ---------------------------------------------------------------

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backups.run_backup")

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if not self.has_run_permission(request):
            return [name for name in shown if name != "run_now_link"]
        return shown

    # --- saving through the service --------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        save_schedule(obj, actor=request.user, request=request)

    def delete_model(self, request, obj) -> None:
        delete_backup_schedule(obj.pk, actor=request.user, request=request)

    def delete_queryset(self, request, queryset) -> None:
        for schedule in queryset:
            self.delete_model(request, schedule)

    # --- run now -----------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/run-now/",
                self.admin_site.admin_view(self.run_now_view),
                name="backups_backupschedule_run_now",
            ),
            *super().get_urls(),
        ]

    def run_now_view(self, request: HttpRequest, object_id: str):
        if not self.has_run_permission(request):
            raise PermissionDenied
        schedule = self.get_object(request, unquote(object_id))
        if schedule is None:
            raise Http404("No such backup schedule.")
        if request.method == "POST":
            self._run_now(request, [schedule])
            url = reverse("admin:backups_backupschedule_change", args=[schedule.pk])
            return HttpResponseRedirect(url)
        return TemplateResponse(
            request,
            "admin/backups/backupschedule/run_now.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Run “{schedule.name}” now?",
                "schedule": schedule,
                "what": self.what(schedule),
                "opts": self.model._meta,
            },
        )

    def _run_now(self, request, schedules) -> None:
        for schedule in schedules:
            try:
                handle = execute_backup_now(
                    schedule.pk, actor=request.user, request=request
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                continue
            done = BackupScheduleRun.objects.get(pk=handle["run_id"])
            if done.result in ("queued", "running"):
                text = f"A run of “{schedule.name}” was queued; its result shows "
                text += "under Recent runs when the worker has taken it."
            else:
                text = f"“{schedule.name}”: {done.get_result_display().lower()}, "
                text += done.message
            level = messages.ERROR if done.result == "failed" else messages.SUCCESS
            self.message_user(request, text, level)

    # --- actions -----------------------------------------------------------------

    @admin.action(permissions=["run"], description="Run selected schedules now")
    def run_now_selected(self, request, queryset):
        self._run_now(request, list(queryset))

    @admin.action(permissions=["change"], description="Enable selected schedules")
    def enable_selected(self, request, queryset):
        count = set_schedules_enabled(
            queryset, enabled=True, actor=request.user, request=request
        )
        self.message_user(request, f"{count} schedule(s) enabled.", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Disable selected schedules")
    def disable_selected(self, request, queryset):
        count = set_schedules_enabled(
            queryset, enabled=False, actor=request.user, request=request
        )
        self.message_user(request, f"{count} schedule(s) disabled.", messages.SUCCESS)


@admin.register(BackupScheduleRun)
class BackupScheduleRunAdmin(ReadOnlyAdmin):
    list_display = (
        "queued_at",
        "schedule",
        "trigger",
        "slot",
        "result",
        "attempts",
        "backup",
        "finished_at",
        "message",
    )
    list_filter = ("result", "trigger", ("schedule", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("schedule", "backup")
    date_hierarchy = "queued_at"
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        mark_dead_runs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_dead_runs()
        return super().change_view(request, object_id, form_url, extra_context)
