"""TALOWA's admin site: Django's admin, titled for the product.

Staff users see what their role's permissions allow. The index is the
administrators' dashboard (``talowa_admin.dashboard``) for every staff role,
with the stock list of admin pages below it.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.functional import SimpleLazyObject

from talowa_admin.dashboard import can_view, dashboard_context
from talowa_admin.dashboard_views import dashboard_urls

# Set on a request while ``each_context`` builds the context of one admin page.
_FOR_EVERY_PAGE = "_talowa_app_list_for_every_page"


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

    def each_context(self, request):
        setattr(request, _FOR_EVERY_PAGE, True)
        try:
            return super().each_context(request)
        finally:
            delattr(request, _FOR_EVERY_PAGE)

    def get_app_list(self, request, app_label=None):
        """The app list, built at most once per request, and for the context
        of every page only when read.

        Django puts it in every admin page's context (``available_apps``) for
        the nav sidebar, which is off here: building it, every model's
        permissions and URLs, was a tenth of the backup list's time. The index
        asks for its own ``app_list`` and gets the same list.
        """
        if app_label is not None:
            return super().get_app_list(request, app_label)
        if getattr(request, _FOR_EVERY_PAGE, False):
            return SimpleLazyObject(lambda: self._app_list(request))
        return self._app_list(request)

    def _app_list(self, request):
        if not hasattr(request, "_talowa_app_list"):
            request._talowa_app_list = super().get_app_list(request)
        return request._talowa_app_list
