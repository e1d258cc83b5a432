"""The backup list's table: Django's own, with rows its admin writes itself.

Django's ``result_list`` looks every cell up anew (a field lookup that fails
for each column method, the empty value, the classes); on a page of backups
that was a fifth of the request. ``BackupAdmin.result_rows`` writes the same
markup from columns looked up once.
"""

from __future__ import annotations

from django import template
from django.contrib.admin.templatetags.admin_list import (
    result_headers,
    result_hidden_fields,
    result_list,
)

register = template.Library()


@register.inclusion_tag("admin/change_list_results.html")
def backup_result_list(cl):
    rows = cl.model_admin.result_rows(cl)
    if rows is None:  # a page the short cut does not cover (a popup, say)
        return result_list(cl)
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
    }
