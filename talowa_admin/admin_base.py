"""Admin base classes that the apps' admins build on (the ground floor).

The apps import this module, never ``talowa_admin.admin``: that one registers
the system settings and audit trail admins, which call the facade
(``talowa_admin.services``), and the facade imports the apps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import models

from talowa_admin.humanize import readable

READING_SUFFIX = "_for_reading"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Job records and logs: visible to those allowed, changed by nobody.

    A JSON field on a record's page is shown for reading (``readable``):
    objects as tables, lists as lists, never as JSON text. Each JSON field
    ``name`` is shown by a display method ``name_for_reading``; an admin may
    define its own method of that name to show the field its way.
    """

    def __init__(self, model, admin_site) -> None:
        super().__init__(model, admin_site)
        self.reading_names = {}
        for field in model._meta.get_fields():
            if isinstance(field, models.JSONField):
                name = field.name + READING_SUFFIX
                self.reading_names[field.name] = name
                if not hasattr(self, name):
                    setattr(self, name, _reader(field))

    def get_fields(self, request, obj=None):
        excluded = self.get_exclude(request, obj) or ()
        hidden = {self.reading_names.get(name) for name in excluded}
        names = (self.reading_names.get(n, n) for n in super().get_fields(request, obj))
        # Once each, in order; an excluded JSON field stays hidden.
        return [name for name in dict.fromkeys(names) if name not in hidden]

    def get_readonly_fields(self, request, obj=None):
        return [
            *super().get_readonly_fields(request, obj),
            *self.reading_names.values(),
        ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _reader(field: models.JSONField) -> Callable[[Any], str]:
    def show(obj) -> str:
        return readable(getattr(obj, field.attname))

    show.short_description = field.verbose_name[:1].upper() + field.verbose_name[1:]
    return show
