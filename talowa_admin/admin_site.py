"""TALOWA's admin site: Django's admin, titled for the product.

Staff users see what their role's permissions allow. The index is the
administrators' dashboard (``talowa_admin.dashboard``) for every staff role,
with the stock list of admin pages below it.
"""

from __future__ import annotations

from django.contrib import admin

from talowa_admin.dashboard import can_view, dashboard_context
from talowa_admin.dashboard_views import dashboard_urls


class TalowaAdminSite(admin.AdminSite):
    site_header = "TALOWA Admin"
    site_title = "TALOWA Admin"
    index_title = "Backup, recovery and retention"
    # The app list stays on the index page; beside every list it took the
    # room of the key columns at 1366 px (the backup list's, first of all).
    enable_nav_sidebar = False

    def get_urls(self):
        return [*dashboard_urls(self.admin_view), *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        """Build the list of admin pages once per request (the index shows it
        and ``each_context`` gives it to every page)."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        if not hasattr(request, "_talowa_app_list"):
            request._talowa_app_list = super().get_app_list(request)
        return request._talowa_app_list

    def index(self, request, extra_context=None):
        extra = dashboard_context(request.user) if can_view(request.user) else {}
        return super().index(request, {**extra, **(extra_context or {})})
