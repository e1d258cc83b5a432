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

    def index(self, request, extra_context=None):
        extra = dashboard_context(request.user) if can_view(request.user) else {}
        return super().index(request, {**extra, **(extra_context or {})})
