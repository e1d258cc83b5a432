"""Admin base classes that the apps' admins build on (the ground floor).

The apps import this module, never ``talowa_admin.admin``: that one registers
the system settings and audit trail admins, which call the facade
(``talowa_admin.services``), and the facade imports the apps.
"""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Job records and logs: visible to those allowed, changed by nobody."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
