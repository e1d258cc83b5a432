"""TALOWA's admin site: Django's admin, titled for the product.

Staff users see what their role's permissions allow; the index will carry the
backup dashboard.
"""

from __future__ import annotations

from django.contrib import admin


class TalowaAdminSite(admin.AdminSite):
    site_header = "TALOWA Admin"
    site_title = "TALOWA Admin"
    index_title = "Backup, recovery and retention"
    # The app list stays on the index page; beside every list it took the
    # room of the key columns at 1366 px (the backup list's, first of all).
    enable_nav_sidebar = False
