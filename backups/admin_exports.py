"""The "Export data" action on users in the admin (Backup operators and up).

The action asks for a format and data types on a page of its own (like
``delete_selected``), then queues one export per selected user; each user
finds theirs on their My data page. Users with an export under way are
skipped and named.

Import-safe: importing registers ``auth.User`` again with ``UserAdmin`` plus
the action, once (``backups/admin.py`` imports this module).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from backups.exports import ExportError
from backups.forms import ExportRequestForm
from backups.services import exporting

EXPORT_PERMISSION = "backups.export_data"


class ExportDataActionMixin:
    """Adds "Export data" to a user admin, for holders of ``backups.export_data``."""

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    @admin.action(permissions=["export"], description="Export data of selected users")
    def export_data(self, request: HttpRequest, queryset):
        form = ExportRequestForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._export_form(request, queryset, form)
        try:
            jobs, refused = exporting.request_exports(
                users=list(queryset),
                format=form.cleaned_data["format"],
                data_types=form.cleaned_data["data_types"],
                include_metadata=form.cleaned_data["include_metadata"],
                scope=form.cleaned_data["scope"],
                requested_by=request.user,
                request=request,
            )
        except ExportError as exc:
            self.message_user(request, f"No export queued: {exc}.", messages.ERROR)
            return None
        if jobs:
            self.message_user(
                request,
                format_html(
                    "Queued {} export(s); each user finds theirs on their My data "
                    'page. <a href="{}">Follow them in Export jobs</a>.',
                    len(jobs),
                    reverse("admin:backups_exportjob_changelist"),
                ),
                messages.SUCCESS,
            )
        for username, reason in refused.items():
            self.message_user(
                request, f"Skipped {username}: {reason}.", messages.WARNING
            )
        return None

    def _export_form(self, request: HttpRequest, queryset, form) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Export users' data",
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "exports/admin_export_users.html", context)


class ExportingUserAdmin(ExportDataActionMixin, auth_admin.UserAdmin):
    actions = ["export_data"]


def register(site: admin.AdminSite = admin.site) -> None:
    """Put ``ExportingUserAdmin`` in place of the user admin on ``site``."""
    user_model = get_user_model()
    if site.is_registered(user_model):
        if isinstance(site.get_model_admin(user_model), ExportingUserAdmin):
            return
        site.unregister(user_model)
    site.register(user_model, ExportingUserAdmin)


register()
