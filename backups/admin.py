"""Admin pages for the backup catalog, schedules and export jobs.

Actions go through the services (which audit them); long ones are queued as
django-q2 tasks with ids. Destructive actions show a confirmation page first.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_list import ResultList, _boolean_icon
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.validators import EMPTY_VALUES
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext

from backups.admin_exports import EXPORT_PERMISSION
from backups.exceptions import BackupError
from backups.exports import ExportNotFound, ExportUnavailable
from backups.models import Backup, ExportJob
from backups.selectors import chain_of
from backups.services import expire_backup, exporting
from backups.services.catalog import mark_stale_backups, unfinished_backups
from backups.services.exporting import mark_stale_exports
from backups.services.presenting import (
    manifest_summary,
    manifest_tables,
    stored_manifest,
)
from talowa_admin import queue
from talowa_admin.admin_base import ReadOnlyAdmin
from talowa_admin.audit import record_audit_event
from talowa_admin.humanize import human_duration, human_size

# What the list's columns read (BackupAdmin.list_display).
LIST_COLUMNS = (
    "id",
    "kind",
    "status",
    "owner__username",
    "stored_bytes",
    "created_at",
    "started_at",
    "finished_at",
    "verify_ok",
)


class BackupChangeList(ChangeList):
    """The list's page reads only what its columns show.

    The counts and metadata JSON, the owner's password hash and the like stay
    behind; actions still get whole backups (``get_queryset``).
    """

    def get_results(self, request):
        super().get_results(request)
        self.result_list = self.result_list.only(*LIST_COLUMNS)


class OwnerListFilter(admin.RelatedOnlyFieldListFilter):
    """The backups' owners, as Django's filter lists them, from two columns.

    Django's reads whole user rows (password hashes included) to print each
    one's name.
    """

    def field_choices(self, field, request, model_admin):
        owners = (
            model_admin.get_queryset(request)
            .distinct()
            .values_list(f"{self.field_path}__pk", flat=True)
        )
        users = field.related_model._default_manager.filter(pk__in=owners)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            users = users.order_by(*ordering)
        # str() of a user is its username (AbstractBaseUser.get_username).
        return list(users.values_list("pk", field.related_model.USERNAME_FIELD))


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    # The columns that fit 1366 px beside the filters; the rest is on the
    # backup's page.
    list_display = (
        "id",
        "kind",
        "owner_label",
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
        ("owner", OwnerListFilter),
        "created_at",
    )
    search_fields = ("id", "owner__username", "note")
    list_select_related = ("owner",)
    # No date_hierarchy: its two aggregate queries ran on every list request;
    # the "created_at" filter above narrows by date the same way.
    show_full_result_count = False
    actions = ["verify_selected", "expire_selected", "restore_selected"]
    change_list_template = "admin/backups/backup/change_list.html"
    change_form_template = "admin/backups/backup/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "status_badge"),
                    ("kind", "scope", "owner_label"),
                    "data_types_text",
                    "parent",
                    "note",
                    "requested_by",
                )
            },
        ),
        (
            "When",
            {"fields": (("created_at", "started_at", "finished_at"), "duration_text")},
        ),
        (
            "Size",
            {"fields": (("raw_size", "compressed_size", "stored_size"),)},
        ),
        (
            "Verification",
            {"fields": (("verified_at", "verify_ok"), "verify_error", "error")},
        ),
        (
            "Storage",
            {
                "classes": ("collapse",),
                "fields": (
                    "storage",
                    "object_key",
                    "key_id",
                    "sha256",
                    "watermark",
                    "audit_head_event_id",
                    "audit_head_hash",
                ),
            },
        ),
    )
    readonly_fields = (
        "id",
        "status_badge",
        "kind",
        "scope",
        "owner_label",
        "data_types_text",
        "parent",
        "note",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration_text",
        "raw_size",
        "compressed_size",
        "stored_size",
        "verified_at",
        "verify_ok",
        "verify_error",
        "error",
        "storage",
        "object_key",
        "key_id",
        "sha256",
        "watermark",
        "audit_head_event_id",
        "audit_head_hash",
    )

    # --- columns ---------------------------------------------------------------

    def action_checkbox(self, obj: Backup) -> str:
        # Django's own renders a form widget's template for each row, a good
        # part of the list's time at 100 rows: the same markup, formatted.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(gettext("Select this object for an action - {}"), obj),
        )

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Backup) -> str:
        return format_html(
            '<span class="badge badge-{}" data-status="{}">{}</span>',
            obj.status,
            obj.status,
            obj.get_status_display(),
        )

    @admin.display(description="Of", ordering="owner__username")
    def owner_label(self, obj: Backup) -> str:
        return obj.owner.get_username() if obj.owner else "System"

    @admin.display(description="Data types")
    def data_types_text(self, obj: Backup) -> str:
        return ", ".join(obj.data_types or ()) or "–"

    @admin.display(description="Stored", ordering="stored_bytes")
    def stored_size(self, obj: Backup) -> str:
        return human_size(obj.stored_bytes)

    @admin.display(description="Raw")
    def raw_size(self, obj: Backup) -> str:
        return human_size(obj.raw_bytes)

    @admin.display(description="Compressed")
    def compressed_size(self, obj: Backup) -> str:
        return human_size(obj.compressed_bytes)

    @admin.display(description="Took")
    def duration_text(self, obj: Backup) -> str:
        return human_duration(obj.duration)

    @admin.display(description="Verified", boolean=True, ordering="verify_ok")
    def verified(self, obj: Backup) -> bool | None:
        return obj.verify_ok

    def get_changelist(self, request, **kwargs):
        return BackupChangeList

    def result_rows(self, cl) -> list[ResultList] | None:
        """Return the list's rows as Django's ``items_for_result`` writes them.

        None when the page is not the plain list these columns make (a
        popup, or columns changed per request): Django's rows then.
        """
        columns = tuple(cl.list_display)
        checkbox = columns[:1] == ("action_checkbox",)
        if (
            cl.is_popup
            or cl.formset
            or columns[checkbox:] != tuple(self.list_display)
            or tuple(cl.list_display_links) != ("id",)
        ):
            return None
        empty = self.get_empty_value_display()
        kinds = dict(Backup._meta.get_field("kind").flatchoices)
        icons = {value: _boolean_icon(value) for value in (True, False, None)}
        preserved = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}

        def text(value) -> str:
            return empty if value in EMPTY_VALUES or str(value).strip() == "" else value

        rows = []
        for backup in cl.result_list:
            created = backup.created_at
            url = add_preserved_filters(preserved, cl.url_for_result(backup))
            cells = [
                format_html(
                    '<th class="field-id"><a href="{}">{}</a></th>',
                    url,
                    text(backup.id),
                ),
                format_html(
                    '<td class="field-kind">{}</td>', kinds.get(backup.kind, empty)
                ),
                format_html(
                    '<td class="field-owner_label">{}</td>',
                    text(self.owner_label(backup)),
                ),
                format_html(
                    '<td class="field-status_badge">{}</td>', self.status_badge(backup)
                ),
                format_html(
                    '<td class="field-stored_size">{}</td>',
                    text(self.stored_size(backup)),
                ),
                format_html(
                    '<td class="field-created_at nowrap">{}</td>',
                    empty
                    if created is None
                    else formats.localize(timezone.template_localtime(created)),
                ),
                format_html(
                    '<td class="field-duration_text">{}</td>',
                    text(self.duration_text(backup)),
                ),
                format_html(
                    '<td class="field-verified">{}</td>', icons[self.verified(backup)]
                ),
            ]
            if checkbox:
                cells.insert(
                    0,
                    format_html(
                        '<td class="action-checkbox">{}</td>',
                        self.action_checkbox(backup),
                    ),
                )
            rows.append(ResultList(None, cells))
        return rows

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
        view = self.admin_site.admin_view
        return [
            path(
                "back-up-now/",
                view(self.back_up_now),
                name="backups_backup_back_up_now",
            ),
            path(
                "<path:object_id>/verify/",
                view(self.verify_view),
                name="backups_backup_verify",
            ),
            path(
                "<path:object_id>/manifest.json",
                view(self.manifest_view),
                name="backups_backup_manifest",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        running = list(unfinished_backups().select_related("owner"))
        failed = set(mark_stale_backups(unfinished=running))
        running = [backup for backup in running if backup.id not in failed]
        queued = queue.queued_count()
        extra = {
            "can_back_up": self.has_run_permission(request),
            "running": running,
            "recent_tasks": queue.recent_results("backups"),
            "queued": queued,
            # The page reloads itself while something is under way.
            "jobs_under_way": bool(running or queued),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backup = self.get_object(request, unquote(object_id))
        extra = {}
        if backup is not None:
            manifest, problem = stored_manifest(backup)
            extra = {
                "backup": backup,
                "chain": _safe_chain(backup),
                "counts": sorted((backup.counts or {}).items()),
                "manifest_summary": manifest_summary(manifest) if manifest else [],
                "manifest_tables": manifest_tables(manifest) if manifest else [],
                "manifest_problem": problem,
                "can_verify": self.has_verify_permission(request)
                and backup.status == Backup.Status.COMPLETED,
                "can_restore": self.has_restore_permission(request)
                and backup.status == Backup.Status.COMPLETED,
                "can_download_manifest": manifest is not None,
                "jobs_under_way": backup.status
                in {Backup.Status.PENDING, Backup.Status.RUNNING},
            }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **extra}
        )

    def verify_view(self, request: HttpRequest, object_id: str):
        """Queue the verification of one backup (a POST from its page)."""
        if not self.has_verify_permission(request):
            raise PermissionDenied
        backup = backup_or_404(unquote(object_id))
        page = reverse("admin:backups_backup_change", args=[quote(backup.pk)])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        if backup.status != Backup.Status.COMPLETED:
            self.message_user(
                request,
                f"Backup {backup.id} is {backup.status}; only completed backups "
                "can be verified.",
                messages.WARNING,
            )
            return HttpResponseRedirect(page)
        queue.enqueue_and_audit(
            "backups.tasks.verify_backups",
            [backup.id],
            request.user.pk,
            name=f"verify {backup.id}",
            group="backups",
            request=request,
            action="backup.verify_queue",
            target=backup,
        )
        self.message_user(
            request,
            f"Verification of {backup.id} was queued; this page shows the "
            "outcome under Verification.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(page)

    def manifest_view(self, request: HttpRequest, object_id: str):
        """Send the manifest read from the backup storage as a JSON file."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        backup = backup_or_404(unquote(object_id))
        manifest, problem = stored_manifest(backup)
        if manifest is None:
            self.message_user(
                request, f"No manifest to download: {problem}.", messages.ERROR
            )
            return HttpResponseRedirect(
                reverse("admin:backups_backup_change", args=[quote(backup.pk)])
            )
        record_audit_event(
            action="backup.manifest_download", target=backup, request=request
        )
        response = HttpResponse(
            json.dumps(manifest, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{backup.id}-manifest.json"'
        )
        return response

    def back_up_now(self, request: HttpRequest):
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:backups_backup_changelist"))
        kind = "incremental" if request.POST.get("kind") == "incremental" else "full"
        queue.enqueue_and_audit(
            "backups.tasks.run_backup",
            kind,
            None,
            request.user.pk,
            name=f"{kind} backup by {request.user.get_username()}",
            group="backups",
            request=request,
            action="backup.queue",
            details={"kind": kind},
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
        queue.enqueue_and_audit(
            "backups.tasks.verify_backups",
            ids,
            request.user.pk,
            name=f"verify {len(ids)} backup(s)",
            group="backups",
            request=request,
            action="backup.verify_queue",
            details={"backups": ids},
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


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "format",
        "scope",
        "status_badge",
        "export_size",
        "requested_by",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "format", "scope", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user", "requested_by")

    def get_urls(self):
        return [
            path(
                "<int:job_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="backups_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        mark_stale_exports()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mark_stale_exports()
        return super().change_view(request, object_id, form_url, extra_context)

    def get_list_display(self, request):
        return (*super().get_list_display(request), _download_column(request))

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: ExportJob) -> str:
        return format_html(
            '<span class="badge badge-{}">{}</span>',
            obj.status,
            obj.get_status_display(),
        )

    @admin.display(description="Size", ordering="size_bytes")
    def export_size(self, obj: ExportJob) -> str:
        return human_size(obj.size_bytes)

    def download_view(self, request: HttpRequest, job_id: int):
        """Stream an export to the administrator who requested it (audited)."""
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        try:
            download = exporting.open_requested_download(
                job_id=job_id, requester=request.user, request=request
            )
        except ExportNotFound as exc:
            raise Http404(str(exc)) from exc
        except ExportUnavailable as exc:
            self.message_user(request, f"{exc}.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:backups_exportjob_changelist"))
        response = FileResponse(
            download.handle,
            as_attachment=True,
            filename=download.filename,
            content_type=download.content_type,
        )
        response["Content-Length"] = str(download.size)
        response["Cache-Control"] = "private, no-store"
        return response


def _download_column(request: HttpRequest):
    """The "Download" column: a link on the exports this administrator asked for."""

    @admin.display(description="Download")
    def download(job: ExportJob) -> str:
        if job.requested_by_id != request.user.pk or not exporting.is_downloadable(job):
            return "–"
        return format_html(
            '<a class="export-download" href="{}">Download</a>',
            reverse("admin:backups_exportjob_download", args=[job.pk]),
        )

    return download


def backup_or_404(backup_id: str) -> Backup:
    return get_object_or_404(Backup, pk=backup_id)


import backups.admin_migrations  # noqa: E402,F401  (storage migration runs)
import backups.admin_schedules  # noqa: E402,F401  (backup schedules and their runs)
